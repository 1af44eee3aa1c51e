"""Configuration precedence through `strata config --print`:
built-in default < config file (--config FILE, INI) < environment (STRATA_*) < flag."""

import re
import subprocess

import pytest

from conftest import run_strata_cli

LINE = re.compile(r"^(STRATA_[A-Z0-9_]+)='(.*)'\s+#\s*(default|file|env|flag)\b.*$")


def parse(stdout):
    """{NAME: (value, source)} from KEY='value'  # source lines (sh-quoted values)."""
    out = {}
    for line in stdout.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f"unexpected config --print line: {line!r}"
        value = m.group(2).replace("'\\''", "'")
        out[m.group(1)] = (value, m.group(3))
    return out


def config_print(*args, env=None, config_file=None, cwd=None):
    argv = (["--config", str(config_file)] if config_file else []) + ["config", "--print", *args]
    p = run_strata_cli(argv, env=env, cwd=cwd)
    assert p.returncode == 0, f"strata {' '.join(argv)} exited {p.returncode}: {p.stderr}"
    return parse(p.stdout)


@pytest.fixture
def ini(tmp_path):
    f = tmp_path / "strata.ini"
    f.write_text("# test file\nlog_level = warn\n")
    return f


def test_default(tmp_path):
    s = config_print(cwd=tmp_path)
    assert s["STRATA_LOG_LEVEL"] == ("info", "default")
    assert s["STRATA_HTTP_ADDR"] == ("127.0.0.1:8080", "default")
    assert s["STRATA_HEADER_LIMIT"][1] == "default"


def test_file_beats_default(ini, tmp_path):
    assert config_print(config_file=ini, cwd=tmp_path)["STRATA_LOG_LEVEL"] == ("warn", "file")


def test_env_beats_file(ini, tmp_path):
    s = config_print(config_file=ini, env={"STRATA_LOG_LEVEL": "error"}, cwd=tmp_path)
    assert s["STRATA_LOG_LEVEL"] == ("error", "env")


@pytest.mark.parametrize("flag", [["--log-level", "debug"], ["--log-level=debug"]])
def test_flag_beats_env(ini, tmp_path, flag):
    s = config_print(*flag, config_file=ini, env={"STRATA_LOG_LEVEL": "error"}, cwd=tmp_path)
    assert s["STRATA_LOG_LEVEL"] == ("debug", "flag")


def test_secrets_masked_unless_show_secrets(tmp_path):
    url = "postgresql://u:hunter2@127.0.0.1:5/x"
    env = {"STRATA_DATABASE_URL": url, "STRATA_METRICS_TOKEN": "tok-s3cret"}
    p = run_strata_cli(["config", "--print"], env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "hunter2" not in p.stdout and "tok-s3cret" not in p.stdout
    s = parse(p.stdout)
    assert s["STRATA_DATABASE_URL"] == ("********", "env")
    assert s["STRATA_METRICS_TOKEN"] == ("********", "env")

    s = config_print("--show-secrets", env=env, cwd=tmp_path)
    assert s["STRATA_DATABASE_URL"] == (url, "env")
    assert s["STRATA_METRICS_TOKEN"] == ("tok-s3cret", "env")


def test_print_output_is_sourceable_by_sh(tmp_path):
    # var/strata.env is this output; `. var/strata.env` must give back the exact values.
    tricky = "it's a \"$HOME\" `x` \\ token"
    p = run_strata_cli(["config", "--print", "--show-secrets"],
                       env={"STRATA_METRICS_TOKEN": tricky}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    f = tmp_path / "strata.env"
    f.write_text(p.stdout)
    got = subprocess.run(["/bin/sh", "-c", '. "$1"; printf %s "$STRATA_METRICS_TOKEN"', "sh",
                          str(f)], capture_output=True, text=True, check=True).stdout
    assert got == tricky


def test_invalid_value_exits_2_naming_the_setting(tmp_path):
    p = run_strata_cli(["config", "--print"], env={"STRATA_HEADER_LIMIT": "abc"}, cwd=tmp_path)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "STRATA_HEADER_LIMIT" in p.stderr, p.stderr
    assert p.stderr.startswith("strata: invalid value for STRATA_HEADER_LIMIT"), p.stderr

    p = run_strata_cli(["config", "--print", "--header-limit", "abc"], cwd=tmp_path)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "STRATA_HEADER_LIMIT" in p.stderr or "--header-limit" in p.stderr, p.stderr


def test_unknown_ini_key_fails_naming_it(tmp_path):
    f = tmp_path / "bad.ini"
    f.write_text("log_level = info\nno_such_setting = 1\n")
    p = run_strata_cli(["--config", str(f), "config", "--print"], cwd=tmp_path)
    assert p.returncode != 0, p.stdout
    assert "no_such_setting" in p.stderr, p.stderr
