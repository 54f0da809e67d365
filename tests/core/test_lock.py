"""One process writes a project at a time; the lock dies with its process, even under kill -9."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from sra_seg_core.errors import ProjectError, ProjectLockedError
from sra_seg_core.project import Project

HOLDER = textwrap.dedent(
    """
    import sys, time
    from sra_seg_core.project import Project
    project = Project.open(sys.argv[1])
    print("holding", flush=True)
    if sys.argv[2] == "exit":
        project.close()
    else:
        time.sleep(60)
    """
)


@pytest.fixture
def project_dir(tmp_path):
    Project.create(tmp_path / "p").close()
    return tmp_path / "p"


def hold(project_dir, mode="sleep"):
    """A second process that opens the project for writing and keeps it open."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(project_dir), mode], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "holding"
    return child


def test_second_process_cannot_open_for_writing(project_dir):
    child = hold(project_dir)
    try:
        with pytest.raises(ProjectLockedError, match=rf"process {child.pid} on .*read-only"):
            Project.open(project_dir)
    finally:
        child.kill()
        child.wait()


def test_second_process_can_open_read_only(project_dir):
    child = hold(project_dir)
    try:
        with Project.open(project_dir, read_only=True) as project:
            assert project.read_only
            assert project.name == "p"
    finally:
        child.kill()
        child.wait()


def test_lock_is_free_after_the_holder_exits(project_dir):
    child = hold(project_dir, mode="exit")
    child.wait()
    Project.open(project_dir).close()


def test_lock_is_free_after_the_holder_is_killed(project_dir):
    child = hold(project_dir)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    Project.open(project_dir).close()


def test_same_process_cannot_open_twice_for_writing(project_dir):
    with Project.open(project_dir):
        with pytest.raises(ProjectLockedError):
            Project.open(project_dir)


def test_closing_frees_the_lock(project_dir):
    Project.open(project_dir).close()
    Project.open(project_dir).close()


def test_read_only_project_refuses_writes(project_dir):
    with Project.open(project_dir, read_only=True) as project:
        with pytest.raises(ProjectError, match="read-only"):
            project.save()
        with pytest.raises(ProjectError, match="read-only"):
            project.new_run_dir()


def test_closed_project_refuses_writes(project_dir):
    project = Project.open(project_dir)
    project.close()
    with pytest.raises(ProjectError, match="closed"):
        project.save()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores folder permissions")
def test_unwritable_folder_suggests_read_only(project_dir):
    project_dir.chmod(0o555)
    try:
        with pytest.raises(ProjectError, match="read-only"):
            Project.open(project_dir)
        Project.open(project_dir, read_only=True).close()
    finally:
        project_dir.chmod(0o755)
