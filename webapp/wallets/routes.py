"""Wallet pages (the wallet list lives on the partner page)."""
