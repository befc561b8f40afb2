"""Workspaces of `snnkd scale` see the dependencies outside the repository (a dataset folder named
`../shared/data/...` in params.yaml's `sources`) as the repository does: a link beside the
workspace, shared by a node's workspaces, pointing where the path points from the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from snnkd.errors import SnnkdError
from snnkd.scale import workspace
from snnkd.scale.stage_task import folder_sources


def _layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    repo = tmp_path / "work" / "repo"
    data = tmp_path / "work" / "shared" / "data" / "fsdd" / "recordings"
    data.mkdir(parents=True)
    (data / "0_a_0.wav").write_bytes(b"RIFF")
    space = repo / "runs" / "scale" / "node" / "folder_fsdd"
    space.mkdir(parents=True)
    return repo, space, data


def test_a_path_that_leaves_the_repository_resolves_from_the_workspace(tmp_path):
    repo, space, data = _layout(tmp_path)
    rel = "../shared/data/fsdd/recordings"
    links = workspace.link_outside(repo, space, [rel, "data/prepared", "/abs/path"])
    assert links == [repo / "runs" / "scale" / "node" / "shared"]
    assert (space / rel).resolve() == data.resolve() == (repo / rel).resolve()
    assert (space / rel / "0_a_0.wav").read_bytes() == b"RIFF"
    other = space.parent / "method_x"
    other.mkdir()
    assert workspace.link_outside(repo, other, [rel]) == links  # the node's workspaces share it


def test_two_levels_up_and_a_link_in_the_way(tmp_path):
    repo, space, _ = _layout(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (repo / "runs" / "scale" / "elsewhere").symlink_to(tmp_path / "work")
    with pytest.raises(SnnkdError, match="links to .*, not "):
        workspace.link_outside(repo, space, ["../../elsewhere/x"])
    (repo / "runs" / "scale" / "node" / "shared").mkdir()
    with pytest.raises(SnnkdError, match="is in the way of a link to"):
        workspace.link_outside(repo, space, ["../shared/data"])


def test_folder_sources_are_read_from_the_plan(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("plan:\n  folders:\n    fsdd: {path: ../shared/data/fsdd/recordings}\n")
    assert folder_sources(params) == ["../shared/data/fsdd/recordings"]
    params.write_text("plan:\n  folders: {}\n")
    assert folder_sources(params) == []
