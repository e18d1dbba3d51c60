"""Pure rules of the embedded cluster: HRW test vector, names, ranges, fault decisions."""

from __future__ import annotations

import pytest

from aisloader.server import Fault
from aisloader.server.errors import EmuError
from aisloader.server.faults import FaultEngine, parse_faults_body
from aisloader.server.hrw import digest, make_daemon_id, owner
from aisloader.server.names import BucketId, check_object_name, parse_bucket
from aisloader.server.nodes.target import parse_range

IDS = {"tA1b2C3d": 1024559713552443126, "tE5f6G7h": 6968700598530540242}
IDS["tI9j0K1l"] = 2418377304551437727


def test_hrw_vector_from_protocol_doc() -> None:
    for tid, want in IDS.items():
        assert digest(tid) == want
    cases = [
        ("ais/@#/bck1/dir/a.txt", 4508032071798252420, "tA1b2C3d"),
        ("ais/@#/imagenet/train/000001.jpg", 3692628729216147201, "tI9j0K1l"),
        ("aws/@#/my-s3/shards/shard-000042.tar", 955131943031521346, "tI9j0K1l"),
        ("ais/@uuid1#ns1/bck/obj", 12658736837621620828, "tA1b2C3d"),
    ]
    for uname, d, winner in cases:
        assert digest(uname) == d
        assert owner(uname, IDS.items()) == winner


def test_uname_and_display() -> None:
    assert BucketId("bck1").uname("dir/a.txt") == "ais/@#/bck1/dir/a.txt"
    assert parse_bucket("my-s3", "s3").uname("x") == "aws/@#/my-s3/x"
    assert parse_bucket("bck", "", "@uuid1#ns1").uname("obj") == "ais/@uuid1#ns1/bck/obj"
    assert parse_bucket("b", "gs").display == "gs://b"
    assert parse_bucket("b", "ais", "@#ns1").display == "ais://@#ns1/b"


def test_daemon_ids_are_deterministic() -> None:
    tid = make_daemon_id("t", 7, 1)
    assert tid == make_daemon_id("t", 7, 1) != make_daemon_id("t", 8, 1)
    assert len(tid) == 8
    assert tid.startswith("t")
    assert tid.isalnum()


@pytest.mark.parametrize("name", ["", ".b", "a..b", "a/b", "x" * 65, "a b"])
def test_bad_bucket_names(name: str) -> None:
    with pytest.raises(EmuError) as ei:
        parse_bucket(name)
    assert ei.value.status == 400


@pytest.mark.parametrize(
    "name",
    [
        *("", "/abs", "a/../b", "..", "./a", "a/./b", "a//b", "dir/", "~/x", "a\x00b", "x" * 1025),
        *("d/" + "x" * 256, "\u00e9" * 128, "a\ud800"),  # a component over NAME_MAX; not UTF-8
    ],
)
def test_bad_object_names(name: str) -> None:
    with pytest.raises(EmuError) as ei:
        check_object_name(BucketId("b"), name)
    assert ei.value.status == 400


def test_good_object_names() -> None:
    at_limits = ["/".join(["x" * 204] * 5), "x" * 255]  # 1024 bytes; a 255-byte component
    for name in ["a", "dir/b b+c%.bin", *at_limits, "a..b", ".hidden/x", "é/ü"]:
        assert check_object_name(BucketId("b"), name) == name


def test_parse_range() -> None:
    assert parse_range("bytes=0-9", 100) == (0, 10)
    assert parse_range("bytes=90-", 100) == (90, 10)
    assert parse_range("bytes=-5", 100) == (95, 5)
    assert parse_range("bytes=-500", 100) == (0, 100)
    assert parse_range("bytes=10-1000", 100) == (10, 90)
    for bad in ["bytes=100-", "bytes=5-2", "bytes=0-1,3-4", "items=0-1", "bytes=-0", "bytes=-"]:
        with pytest.raises(EmuError) as ei:
            parse_range(bad, 100)
        assert ei.value.status == 416
        assert ei.value.headers["Content-Range"] == "bytes */100"


def _decisions(engine: FaultEngine, keys: list[str]) -> list[bool]:
    path = "/v1/objects/b/o"
    return [engine.decide("target", "GET", k, path, False) is not None for k in keys]


def test_fraction_is_deterministic_and_order_independent() -> None:
    keys = [f"GET /v1/objects/b/o{i}?provider=ais" for i in range(400)]
    e1, e2, e3 = FaultEngine(), FaultEngine(), FaultEngine()
    e1.set([Fault("status", fraction=0.25)], seed=5)
    e2.set([Fault("status", fraction=0.25)], seed=5)
    e3.set([Fault("status", fraction=0.25)], seed=6)
    first = _decisions(e1, keys)
    shuffled = dict(zip(keys[::-1], _decisions(e2, keys[::-1]), strict=True))
    assert first == [shuffled[k] for k in keys]
    assert 60 < sum(first) < 140
    assert first != _decisions(e3, keys)
    # the same request a second time is a new occurrence with its own decision
    again = _decisions(e1, keys)
    assert again != first
    assert 60 < sum(again) < 140


def test_every_k_and_matching() -> None:
    e = FaultEngine()
    e.set([Fault("status", every=3, hop="target", methods=("GET",))])
    assert _decisions(e, ["k"] * 6) == [False, False, True, False, False, True]
    assert e.decide("proxy", "GET", "k", "/v1/objects/b/o", False) is None
    assert e.decide("target", "PUT", "k", "/v1/objects/b/o", False) is None
    assert e.decide("target", "GET", "k", "/v1/buckets/b", False) is None
    e.set([Fault("reset", every=1)])
    assert e.decide("proxy", "GET", "k", "/v1/objects/b/o", True) is None  # redirect: no body
    assert e.decide("target", "GET", "k", "/v1/objects/b/o", False) is not None


def test_fault_validation_and_json() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fraction"):
        Fault("status", fraction=2.0)
    f = Fault("latency", delay=0.5, methods=("get", "head"))
    assert f.methods == ("GET", "HEAD")
    assert Fault.from_json(f.to_json()) == f
    faults, seed = parse_faults_body({"seed": 3, "faults": [f.to_json()]})
    assert (faults, seed) == ([f], 3)
    with pytest.raises(ValueError, match="unknown fault fields"):
        parse_faults_body({"faults": [{"kind": "status", "bogus": 1}]})
