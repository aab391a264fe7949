"""Cluster helpers that need no SLURM: local clusters, cleanup, prompts, parsing, profiles."""

from __future__ import annotations

import inspect
import json
import logging
import os
import urllib.request

import distributed
import pytest

from acme import prompt as _prompt
from acme.clusters import (
    bic_cluster_setup,
    client_is_usable,
    cluster_cleanup,
    esi_cluster_setup,
    local_cluster_setup,
    slurm_available,
)
from acme.clusters.detect import SLURMCommandError, run_slurm_command
from acme.clusters.profiles import available_profiles, detect_profile, load_profile
from acme.clusters.run import auto_n_workers
from acme.clusters.slurm import _check_job_extra, parse_mem_mb

# --- local_cluster_setup and cluster_cleanup -------------------------------------------


def test_local_cluster_dashboard_and_cleanup(acme_log):
    client = local_cluster_setup(n_workers=1, mem_per_worker="1GB", interactive=False)
    try:
        assert isinstance(client, distributed.Client)
        assert list(client.nthreads().values()) == [1]
        info = client.scheduler_info()["workers"]
        assert [w["memory_limit"] for w in info.values()] == [10**9]
        link = client.dashboard_link
        assert (f"Local parallel computing client ready, dashboard accessible at {link}"
                in acme_log.messages())
        with urllib.request.urlopen(link, timeout=10) as response:
            assert response.status == 200
        assert client_is_usable(client)
    finally:
        cluster_cleanup(client)
    assert client.status == "closed"
    assert not client_is_usable(client)
    assert any(m.startswith("Successfully shut down LocalCluster hosted on tcp://") and
               m.endswith("containing 1 workers") for m in acme_log.messages())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_workers": "2"}, TypeError, "`n_workers` has to be None or an integer"),
    ({"n_workers": 0}, ValueError,
     "`n_workers` has to be None or an integer between 1 and inf, not 0"),
    ({"mem_per_worker": 3}, TypeError, "`mem_per_worker` has to be a string like '2GB'"),
    ({"mem_per_worker": "lots"}, ValueError, "`mem_per_worker` has to be a positive amount"),
    ({"interactive": "invalid"}, TypeError,
     "`interactive` has to be `True` or `False`, not 'invalid'"),
])
def test_local_cluster_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        local_cluster_setup(**kwargs)


def test_local_cluster_prompt_no_starts_nothing(terminal, capsys):
    terminal("n\n")
    assert local_cluster_setup(interactive=True) is None
    assert "__main__" in capsys.readouterr().out
    with pytest.raises(ValueError):
        distributed.get_client()  # nothing started


def test_cleanup_rejects_non_client():
    with pytest.raises(TypeError, match="`client` has to be a distributed.Client"):
        cluster_cleanup(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client_is_usable("client")  # type: ignore[arg-type]


def test_cleanup_without_client_warns(acme_log):
    cluster_cleanup()
    assert "No dangling clients or clusters found." in acme_log.messages(logging.WARNING)


# --- prompts ----------------------------------------------------------------------------


@pytest.fixture
def stdin_pipe():
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as reader, os.fdopen(write_end, "w") as writer:
        yield reader, writer


def test_prompt_times_out_with_default(stdin_pipe, capsys):
    reader, _ = stdin_pipe
    assert _prompt.ask("Go? [k/a/c]", ["k", "a", "c"], "c", timeout=0.1, stream=reader) == "c"
    assert "no answer within 0.1 s" in capsys.readouterr().out


def test_prompt_reads_answers(stdin_pipe):
    reader, writer = stdin_pipe
    writer.write("x\nA\n\n")
    writer.flush()
    assert _prompt.ask("?", ["k", "a"], None, timeout=5, stream=reader) == "a"
    assert _prompt.ask("?", ["k", "a"], "k", timeout=5, stream=reader) == "k"  # empty line
    writer.close()
    assert _prompt.ask("?", ["k", "a"], "k", stream=reader) == "k"  # end of input


def test_no_terminal_under_pytest():
    assert not _prompt.stdin_is_tty()


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, mb", [("1500MB", 1500), ("8GB", 8000), ("1.5gb", 1500),
                                      (" 2 GB ", 2000), ("0.0015TB", 1500),
                                      ("2GiB", 2148), ("512 MiB", 537)])
def test_parse_mem(spec, mb):
    assert parse_mem_mb(spec) == mb


@pytest.mark.parametrize("spec", ["8", "0GB", "-1GB", "auto", "8 parsecs"])
def test_parse_mem_rejects(spec):
    with pytest.raises(ValueError, match="`mem_per_worker` has to be a positive amount"):
        parse_mem_mb(spec)


def test_job_extra_output_forms(tmp_path):
    options, directory = _check_job_extra(
        ["--job-name=x", f"-o {tmp_path}/slurm-%j.out", "--begin=now"])
    assert options == ["--job-name=x", f"--output={tmp_path}/slurm-%j.out", "--begin=now"]
    assert directory == tmp_path
    default = ["--job-name=x"]
    _check_job_extra(default)
    assert default == ["--job-name=x"]  # never modified


def test_auto_n_workers_is_bounded():
    assert auto_n_workers(1) == 1
    assert auto_n_workers(7) == 7
    assert auto_n_workers(10_000) == 10
    assert auto_n_workers(10_000, cap=50) == 50


# --- SLURM detection without SLURM --------------------------------------------------------


def test_no_sinfo_means_no_slurm(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not slurm_available()


def test_broken_sinfo_means_no_slurm(monkeypatch, tmp_path):
    sinfo = tmp_path / "sinfo"
    sinfo.write_text("#!/bin/sh\necho 'sinfo: error: cannot reach controller' >&2\nexit 1\n")
    sinfo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert not slurm_available()


def test_command_errors_carry_details():
    with pytest.raises(SLURMCommandError) as info:
        run_slurm_command(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (info.value.returncode, info.value.stdout, info.value.stderr) == (3, "out\n", "err\n")
    with pytest.raises(SLURMCommandError, match="could not be started"):
        run_slurm_command(["no-such-slurm-command"])
    with pytest.raises(SLURMCommandError, match="timed out after 0.1 s"):
        run_slurm_command(["sleep", "5"], timeout=0.1)


# --- profiles -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, setup", [("esi", esi_cluster_setup), ("bic", bic_cluster_setup)])
def test_preset_help_shows_the_shipped_profile_defaults(name, setup, tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_PROFILE_PATH", str(tmp_path))  # no user profiles
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    profile = load_profile(name)
    assert profile.source.parent.name == "profiles"
    params = inspect.signature(setup).parameters
    line = " ".join(inspect.getdoc(setup).split()).split("Shipped defaults: ")[1].split(".")[0]
    documented = dict(item.split("=") for item in line.split(", "))
    assert set(documented) == {"n_workers", "timeout", "interactive_wait", "mem_cushion"}
    for key, value in documented.items():
        assert params[key].default is None, key  # "not given": the profile decides
        assert profile.default(key) == int(value), key


def test_user_profile_defaults_reach_the_preset(tmp_path, monkeypatch, acme_log):
    """A user's esi.json "defaults" block is what esi_cluster_setup uses."""
    (tmp_path / "esi.json").write_text(json.dumps({"defaults": {"n_workers": 1}}))
    monkeypatch.setenv("ACME_PROFILE_PATH", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo: the preset starts a local cluster
    with pytest.raises(ValueError):
        distributed.get_client()  # no default client the preset would reuse
    client = esi_cluster_setup(partition="8GBS", interactive=False)
    try:
        assert len(client.scheduler_info()["workers"]) == 1
    finally:
        cluster_cleanup(client)
    assert "SLURM is not available on" in " ".join(acme_log.messages())


def test_user_profile_overrides_and_detection(tmp_path, monkeypatch):
    (tmp_path / "esi.json").write_text(json.dumps({"defaults": {"timeout": 5}}))
    (tmp_path / "here.json").write_text(json.dumps(
        {"match": {"paths_exist": [str(tmp_path)]}, "default_partition": "p{arch}"}))
    monkeypatch.setenv("ACME_PROFILE_PATH", str(tmp_path))
    monkeypatch.delenv("ACME_PROFILE", raising=False)
    assert available_profiles()["esi"] == tmp_path / "esi.json"
    assert load_profile("esi").default("timeout") == 5
    detected = detect_profile()
    assert detected is not None and detected.name == "here"
    assert detected.fallback_partition() == "p"
    monkeypatch.setenv("ACME_PROFILE", "none")
    assert detect_profile() is None


def test_detection_skips_a_broken_profile_of_another_site(tmp_path, monkeypatch, acme_log):
    (tmp_path / "aaa_broken.json").write_text("{ not json")
    (tmp_path / "here.json").write_text(json.dumps({"match": {"paths_exist": [str(tmp_path)]}}))
    monkeypatch.setenv("ACME_PROFILE_PATH", str(tmp_path))
    monkeypatch.delenv("ACME_PROFILE", raising=False)
    detected = detect_profile()
    assert detected is not None and detected.name == "here"
    assert any(m.startswith("Skipping site profile 'aaa_broken': Cannot read site profile")
               for m in acme_log.messages(logging.WARNING))
    with pytest.raises(ValueError, match="Cannot read site profile"):
        load_profile("aaa_broken")  # asked for by name, it is still an error


def test_bad_profiles_are_rejected(tmp_path, monkeypatch):
    (tmp_path / "typo.json").write_text(json.dumps({"invalid_partition": ["x"]}))
    monkeypatch.setenv("ACME_PROFILE_PATH", str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown keys \['invalid_partition'\]"):
        load_profile("typo")
    with pytest.raises(ValueError, match="Unknown site profile 'nope'"):
        load_profile("nope")


def test_helpers_called_on_their_own_show_the_dashboard_link(tmp_path):
    """Outside a run, with no logging configured, the messages still reach the user."""
    import subprocess
    import sys

    code = ("import acme\n"
            "c = acme.local_cluster_setup(n_workers=1, mem_per_worker='1GB', interactive=False)\n"
            "acme.cluster_cleanup(c)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ACME INFO: Local parallel computing client ready, dashboard accessible at http" \
        in out.stderr
    assert "ACME INFO: Successfully shut down LocalCluster" in out.stderr


def test_every_shipped_profile_loads(monkeypatch, tmp_path, acme_log):
    # Only site profiles ship in acme/profiles: detecting one never skips a file of ours
    # (the scheduler table once lived there and every run warned about it).
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("ACME_PROFILE_PATH", raising=False)
    monkeypatch.delenv("ACME_PROFILE", raising=False)
    shipped = available_profiles()
    assert sorted(shipped) == ["bic", "esi"]
    for name in shipped:
        assert load_profile(name).name == name
    detect_profile()
    assert not [m for m in acme_log.messages() if "Skipping site profile" in m]
