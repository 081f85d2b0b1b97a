"""The README's `curl` session runs from top to bottom as written, against a served demo.

The session is the first ```sh block of the README's "JSON API" section. With `curl` and `jq`
on PATH it runs in bash as written, against the app served on 127.0.0.1 (only the server's
address and the path of `flask` are put in); the same requests are also made from Python
through the test client, which needs neither tool. Every `curl` must answer 2xx, unless the
comment under its command (`# -> {...}`) shows another `"status"`; every plain value that
comment shows (`"new":1`, `"outcome":"new"`) must be in the answer; every command must succeed
(`set -euo pipefail`), so a file the session never made, a wrong path or a value that no longer
comes back fails the test.

The README's command line is also held to the app's own: each command it lists exists with the
options it shows, and each command of the app is listed.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: The address the README's session talks to (`scripts/serve`'s default).
README_BASE = "http://127.0.0.1:8000"
README_FLASK = ".venv/bin/flask"
HAVE_CURL_AND_JQ = bool(shutil.which("curl") and shutil.which("jq"))

# Values shown in a `# ->` comment: "key": true|false|null|number|"text" (text holding "..."
# stands for something elided and is not compared).
SHOWN_VALUE = re.compile(r'"(\w+)"\s*:\s*(true|false|null|-?\d+(?:\.\d+)?|"[^"]*")')


# --- reading the session ---------------------------------------------------------------------


def session_of(readme: str) -> str:
    """The first ```sh block of the README's "## JSON API" section."""
    section = re.search(r"^## JSON API\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section, "README.md has no '## JSON API' section"
    block = re.search(r"^```sh\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, "the README's JSON API section has no ```sh block (the curl session)"
    assert "curl " in block.group(1), "the README's ```sh block holds no curl command"
    return block.group(1)


@dataclass
class Command:
    """One command of the session: its text (continuation lines joined, heredoc apart)."""

    text: str
    heredoc: str | None = None
    shown: str = ""  # the `# -> ...` comment under it

    @property
    def curl_calls(self) -> int:
        """How many times it runs curl (at the start, after a `|` or inside `$(`)."""
        return len(re.findall(r"(?:^|\||\$\()\s*curl\s", self.text))

    def expected_status(self) -> int | None:
        """The HTTP status its comment shows, or None for "any 2xx"."""
        for key, value in SHOWN_VALUE.findall(self.shown):
            if key == "status" and value.isdigit():
                return int(value)
        return None

    def shown_values(self) -> list[tuple[str, object]]:
        """The plain values its comment shows, as JSON values."""
        return [
            (key, json.loads(value))
            for key, value in SHOWN_VALUE.findall(self.shown)
            if "..." not in value and "…" not in value
        ]


def commands_of(session: str) -> list[Command]:
    """The session's commands in order, each with the `# ->` comment that follows it."""
    commands: list[Command] = []
    lines = session.splitlines()
    i = 0
    shown_open = False
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        i += 1
        if not stripped:
            shown_open = False
            continue
        if stripped.startswith("#"):
            if stripped.startswith("# ->") and commands:
                commands[-1].shown += stripped[4:]
                shown_open = True
            elif shown_open and stripped.startswith("#    "):
                commands[-1].shown += stripped[1:]
            else:
                shown_open = False
            continue
        shown_open = False
        text = line
        while text.rstrip().endswith(("\\", "|")) and i < len(lines):
            text = text.rstrip()
            text = (text[:-1] if text.endswith("\\") else text) + " " + lines[i].strip()
            i += 1
        command = Command(text=text)
        heredoc = re.search(r"<<\s*(['\"]?)(\w+)\1", text)
        if heredoc:
            assert heredoc.group(1), "heredocs in the session take a quoted delimiter (<<'EOF')"
            body = []
            while i < len(lines) and lines[i] != heredoc.group(2):
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"heredoc {heredoc.group(2)} is never closed"
            i += 1
            command.heredoc = "".join(f"{b}\n" for b in body)
        commands.append(command)
    return commands


# --- checking the answers --------------------------------------------------------------------


def _all_values(value, found: list) -> list:
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((key, item))
            _all_values(item, found)
    elif isinstance(value, list):
        for item in value:
            _all_values(item, found)
    return found


def check_answers(commands: list[Command], answers: list[tuple[int, str]]) -> None:
    """Each curl answered as its comment says: the status, then the values shown."""
    calls = [c for c in commands for _ in range(c.curl_calls)]
    assert len(answers) == len(calls), (
        f"{len(calls)} curl commands in the session, {len(answers)} answered"
    )
    for command, (status, body) in zip(calls, answers, strict=True):
        expected = command.expected_status()
        where = f"{command.text}\n  answered {status}: {body[:500]}"
        if expected is None:
            assert 200 <= status < 300, f"not 2xx: {where}"
        else:
            assert status == expected, f"expected {expected}: {where}"
        shown = command.shown_values()
        if not shown:
            continue
        try:
            values = _all_values(json.loads(body), [])
        except json.JSONDecodeError:
            pytest.fail(f"the comment shows JSON values but the answer is not JSON: {where}")
        for key, value in shown:
            assert (key, value) in values, f"the answer has no {key}={value!r}: {where}"


# --- running it in bash with curl and jq -----------------------------------------------------

#: Records each curl's status and body (base64) in $CURL_LOG; prints the body as curl would.
CURL_RECORDER = r"""
set -euo pipefail
curl() {
  local out
  out=$(command curl --write-out '\n%{http_code}' "$@") || return
  printf '%s\n' "${out%$'\n'*}"
  printf '%s %s\n' "${out##*$'\n'}" "$(printf '%s' "${out%$'\n'*}" | base64 -w0)" >> "$CURL_LOG"
}
"""


def run_in_bash(session: str, base_url: str, database_url: str, tmp_path: Path):
    """Run the session as written; returns each curl's (status, body)."""
    assert README_BASE in session, f"the session does not talk to {README_BASE}"
    flask = str(Path(sys.executable).with_name("flask"))
    script = session.replace(README_BASE, base_url).replace(README_FLASK, flask)
    log = tmp_path / "curl.log"
    log.write_text("")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CURL_LOG": str(log),
        "TMPDIR": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", "-c", CURL_RECORDER + script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    answers = [
        (int(status), base64.b64decode(body).decode())
        for status, _, body in (line.partition(" ") for line in log.read_text().splitlines())
    ]
    assert done.returncode == 0, (
        f"the README's session stopped (exit {done.returncode}):\n"
        f"{done.stderr[-3000:]}\n--- output ---\n{done.stdout[-3000:]}"
    )
    return answers


# --- the same requests from Python -----------------------------------------------------------


class NotKnown(AssertionError):
    """The session uses shell the Python runner does not speak."""


@dataclass
class PythonSession:
    """Runs the session's commands through the test client and the app's command line."""

    client: object
    runner: object
    scratch: Path
    variables: dict = field(default_factory=dict)
    answers: list = field(default_factory=list)

    def run(self, commands: list[Command]) -> list[tuple[int, str]]:
        for command in commands:
            self.command(command)
        return self.answers

    def command(self, command: Command) -> None:
        words = self.words(command.text)
        if len(words) == 1 and isinstance(words[0], str):
            assignment = re.fullmatch(r"([A-Za-z_]\w*)=(.*)", words[0], re.S)
            if assignment:
                self.variables[assignment.group(1)] = assignment.group(2)
                return
        self.pipeline(words, heredoc=command.heredoc)

    # Words: a list of strings, with "|", ">" and "<<" as operators (kept as tuples).
    def words(self, text: str) -> list:
        words: list = []
        current: list[str] = []
        started = False
        i = 0

        def end_word():
            nonlocal started
            if started:
                words.append("".join(current))
            current.clear()
            started = False

        while i < len(text):
            char = text[i]
            if char in " \t\n":
                end_word()
                i += 1
            elif char == "#" and not started:
                break
            elif char == "'":
                close = text.index("'", i + 1)
                current.append(text[i + 1 : close])
                started = True
                i = close + 1
            elif char == '"':
                i += 1
                while text[i] != '"':
                    if text[i] == "\\" and text[i + 1] in '"\\$`':
                        current.append(text[i + 1])
                        i += 2
                    elif text[i] == "$":
                        value, i = self.expand(text, i)
                        current.append(value)
                    else:
                        current.append(text[i])
                        i += 1
                started = True
                i += 1
            elif char == "$":
                value, i = self.expand(text, i)
                current.append(value)
                started = True
            elif text.startswith("<<", i):
                end_word()
                words.append(("<<",))
                i += 2
            elif char in "|>":
                end_word()
                words.append((char,))
                i += 1
            elif char in ";&<()`":
                raise NotKnown(f"the Python runner does not know {char!r} in: {text}")
            else:
                current.append(char)
                started = True
                i += 1
        end_word()
        return words

    def expand(self, text: str, i: int) -> tuple[str, int]:
        """`$NAME`, `${NAME}` or `$(pipeline)` at text[i]; returns its value and the next index."""
        if text.startswith("$(", i):
            depth, j = 1, i + 2
            quote = None
            while depth:
                char = text[j]
                if quote:
                    quote = None if char == quote else quote
                elif char in "'\"":
                    quote = char
                elif char == "(":
                    depth += 1
                elif char == ")":
                    depth -= 1
                j += 1
            output = self.pipeline(self.words(text[i + 2 : j - 1]), capture=True)
            return output.rstrip("\n"), j
        match = re.compile(r"\$(?:\{(\w+)\}|(\w+))").match(text, i)
        if not match:
            raise NotKnown(f"the Python runner does not know the $ at {text[i:]!r}")
        name = match.group(1) or match.group(2)
        if name not in self.variables:
            raise AssertionError(f"${name} is used before it is set (set -u)")
        return self.variables[name], match.end()

    def pipeline(self, words: list, heredoc: str | None = None, capture: bool = False) -> str:
        stages: list[list] = [[]]
        for word in words:
            if word == ("|",):
                stages.append([])
            else:
                stages[-1].append(word)
        data = ""
        for number, stage in enumerate(stages):
            output_file = None
            if ("<<",) in stage:
                at = stage.index(("<<",))
                assert heredoc is not None, f"no heredoc body for {stage}"
                data = heredoc
                del stage[at : at + 2]
            if (">",) in stage:
                at = stage.index((">",))
                output_file = Path(stage[at + 1])
                del stage[at : at + 2]
            data = self.stage(stage, data if number or heredoc is not None else "")
            if output_file is not None:
                assert output_file.parent.is_dir(), f"no folder {output_file.parent}"
                output_file.write_text(data)
                data = ""
        return data if capture else ""

    def stage(self, argv: list, data: str) -> str:
        name, args = argv[0], argv[1:]
        if name == README_FLASK:
            assert args[:2] == ["--app", "wsgi"], f"flask without --app wsgi: {argv}"
            result = self.runner.invoke(args=args[2:])
            assert result.exit_code == 0, f"{' '.join(argv)} failed: {result.output}"
            return result.output
        if name == "curl":
            return self.curl(args, data)
        if name == "jq":
            return jq(args, data)
        if name == "tail" and args[:1] == ["-n"]:
            return "".join(data.splitlines(keepends=True)[-int(args[1]) :])
        if name == "grep" and args[:1] == ["-i"]:
            found = [
                line for line in data.splitlines(keepends=True) if re.search(args[1], line, re.I)
            ]
            assert found, f"grep found no {args[1]!r} in:\n{data}"
            return "".join(found)
        if name == "printf" and len(args) == 1:
            return args[0].encode().decode("unicode_escape")
        if name == "cat" and not args:
            return data
        if name == "mktemp" and args == ["-d"]:
            return tempfile.mkdtemp(dir=self.scratch) + "\n"
        raise NotKnown(f"the Python runner does not know the command {name!r}: {argv}")

    def curl(self, args: list, data: str) -> str:
        headers: dict[str, str] = {}
        body = None
        method = None
        output = None
        include = False
        url = None
        args = list(args)
        while args:
            arg = args.pop(0)
            if arg in ("-s", "--silent"):
                continue
            if arg in ("-i", "--include"):
                include = True
            elif arg in ("-H", "--header"):
                key, _, value = args.pop(0).partition(":")
                headers[key.strip()] = value.strip()
            elif arg in ("--data-binary", "-d", "--data"):
                value = args.pop(0)
                if value == "@-":
                    body = data.encode()
                elif value.startswith("@"):
                    path = Path(value[1:])
                    assert path.is_file(), f"curl sends {value}, a file that does not exist"
                    body = path.read_bytes()
                else:
                    body = value.encode()
            elif arg in ("-X", "--request"):
                method = args.pop(0)
            elif arg in ("-o", "--output"):
                output = Path(args.pop(0))
            elif arg.startswith("http"):
                url = arg
            else:
                raise NotKnown(f"the Python runner does not know curl's {arg!r}")
        assert url and url.startswith(README_BASE), f"curl to {url!r}, not {README_BASE}"
        response = self.client.open(
            url[len(README_BASE) :],
            method=method or ("POST" if body is not None else "GET"),
            headers=headers,
            data=body,
        )
        text = response.get_data(as_text=True)
        self.answers.append((response.status_code, text))
        if output is not None:
            output.write_bytes(response.get_data())
            return ""
        if include:
            head = "".join(f"{k}: {v}\r\n" for k, v in response.headers.items())
            return f"HTTP/1.1 {response.status}\r\n{head}\r\n{text}"
        return text


def jq(args: list, data: str) -> str:
    """The few jq filters the session uses: paths (`.a[0].b`) and `| length`."""
    raw = "-r" in args
    (program,) = [a for a in args if not a.startswith("-")]
    value = json.loads(data)
    for step in (s.strip() for s in program.split("|")):
        if step == "length":
            value = len(value)
            continue
        if not re.fullmatch(r"\.|(\.\w+|\[\d+\])+", step):
            raise NotKnown(f"the Python runner does not know the jq filter {step!r}")
        for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", step):
            value = value.get(key) if key else value[int(index)]
    if raw and isinstance(value, str):
        return value + "\n"
    return json.dumps(value, indent=2) + "\n"


# --- the tests -------------------------------------------------------------------------------


@pytest.fixture
def demo(runner):
    """The demo data of `scripts/serve`."""
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "demo login: demo@example.com" in result.output


def test_the_session_is_found_with_its_answers():
    commands = commands_of(session_of(README.read_text()))
    curls = sum(c.curl_calls for c in commands)
    assert curls >= 10
    refused = [c for c in commands if c.expected_status() == 422]
    assert len(refused) == 1 and ("line", 2) in refused[0].shown_values()
    assert all(c.curl_calls <= 1 for c in commands)
    # Every file the session sends is made by the session (a heredoc or printf before it).
    made = {m for c in commands for m in re.findall(r'> "?(\$FILES/[\w.-]+)', c.text)}
    sent = {s for c in commands for s in re.findall(r'"?@"?(\$FILES/[\w.-]+)', c.text)}
    assert sent and sent <= made, f"sent but never made: {sent - made}"


def run_session(session, app, runner, live_server, database_url, tmp_path):
    """Each curl's (status, body): in bash with curl and jq when both are on PATH, else from
    Python."""
    if HAVE_CURL_AND_JQ:
        return run_in_bash(session, live_server, database_url, tmp_path)
    return PythonSession(app.test_client(), runner, tmp_path).run(commands_of(session))


def test_the_readme_session_runs(app, demo, runner, live_server, database_url, tmp_path):
    session = session_of(README.read_text())
    answers = run_session(session, app, runner, live_server, database_url, tmp_path)
    check_answers(commands_of(session), answers)


def test_the_readme_session_runs_from_python(app, demo, runner, tmp_path):
    commands = commands_of(session_of(README.read_text()))
    answers = PythonSession(app.test_client(), runner, tmp_path).run(commands)
    check_answers(commands, answers)


BROKEN = {
    "a file never made": (
        '--data-binary "@$FILES/rewards.csv"',
        '--data-binary "@$FILES/rewards-never-made.csv"',
    ),
    "a wrong path": ('"$API/runs/$RUN/lines?limit=5"', '"$API/run/$RUN/lines?limit=5"'),
    "a value that no longer comes back": ('"line_count":424', '"line_count":425'),
}


#: What each broken session fails with.
FAILS_WITH = {
    "a file never made": "a file that does not exist|not 2xx",
    "a wrong path": "not 2xx",
    "a value that no longer comes back": "the answer has no line_count=425",
}


def _broken(name: str) -> str:
    session = session_of(README.read_text())
    old, new = BROKEN[name]
    assert session.count(old) == 1, f"{old!r} is not once in the session"
    return session.replace(old, new)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_session_fails_from_python(app, demo, runner, tmp_path, name):
    commands = commands_of(_broken(name))
    with pytest.raises(AssertionError, match=FAILS_WITH[name]):
        check_answers(commands, PythonSession(app.test_client(), runner, tmp_path).run(commands))


def test_a_session_sending_a_file_never_made_fails(
    app, demo, runner, live_server, database_url, tmp_path
):
    # The session's opening lines (token, address, scratch folder), then a file never made.
    session = session_of(README.read_text())
    opening = session[: session.index("\n", session.index("FILES=$(mktemp -d)")) + 1]
    session = (
        opening + "curl -s -H \"$AUTH\" -H 'Content-Type: text/csv' "
        '--data-binary "@$FILES/never-made.csv" "$API/imports/periods?provider=jito"\n'
    )
    with pytest.raises(AssertionError, match=FAILS_WITH["a file never made"]):
        check_answers(
            commands_of(session),
            run_session(session, app, runner, live_server, database_url, tmp_path),
        )


def _command_of(group, words: list[str]):
    """The click command the words name (`commissions compute` -> its Command), and the rest."""
    command = group
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command, words = command.commands[words[0]], words[1:]
    return command, words


def test_the_readme_command_line_is_the_apps(app):
    """Each command the README lists exists with the options it shows, and each of the app's
    own commands is listed (the database's and the API document's: the ones the README uses)."""
    section = re.search(r"^## Command line\n(.*?)(?=^## |\Z)", README.read_text(), re.M | re.S)
    assert section, "README.md has no '## Command line' section"
    lines = [
        line.split()[1:] for line in section.group(1).splitlines() if line.startswith("    flask ")
    ]
    assert len(lines) >= 15
    listed = set()
    for words in lines:
        # `import validator-revenue|staker-rewards|stake-events ...`: each of the alternatives.
        alternatives = words[1].split("|") if len(words) > 1 else [""]
        for alternative in alternatives:
            command, rest = _command_of(app.cli, [words[0], alternative, *words[2:]])
            name = " ".join(words[:2]) if alternative else words[0]
            assert not isinstance(command, click.Group), f"flask {name}: not a command"
            listed.add(command)
            options = {o for p in command.params for o in getattr(p, "opts", [])}
            for word in rest:
                option = word.strip("[]").split("=")[0]
                if option.startswith("-"):
                    assert option in options, f"flask {name} has no option {option}"
    own = {
        command
        for name, group in app.cli.commands.items()
        if name not in ("db", "openapi")
        for command in (group.commands.values() if isinstance(group, click.Group) else [group])
    }
    missing = {c.name for c in own - listed}
    assert not missing, f"commands the README's command line does not list: {missing}"
