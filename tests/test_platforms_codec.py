"""The platform codecs (pure): the ciphers against their standards' published vectors, the
envelopes' round trips, and every way a request can be refused."""

from __future__ import annotations

import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from warning.platforms.crypto import CipherSpec, CryptoError
from warning.platforms.decode import GatewayKeys, PlatformError, Registry, answer, decode, parse_time
from warning.platforms.settings import NATIONAL, PROVINCIAL, parse_platforms

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_sm4_vector_gb_t_32907_2016():
    # GB/T 32907-2016, appendix A, example 1: key = plaintext = 0123456789abcdeffedcba9876543210
    k = bytes.fromhex("0123456789abcdeffedcba9876543210")
    spec = CipherSpec("sm4", k, b"", mode="ecb")
    cipher = spec._cipher().encryptor()
    assert (cipher.update(k) + cipher.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_cbc_with_a_zero_iv_is_the_ecb_vector_on_one_block():
    k = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = CipherSpec("sm4", k, bytes(16))._cipher().encryptor()
    assert (enc.update(k) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


@pytest.mark.parametrize(
    "key, plain, expected",
    [
        (
            "133457799BBCDFF1",
            "0123456789ABCDEF",
            "85E813540F0AB405",
        ),  # the classic worked example (FIPS 46 walk-through)
        ("0101010101010101", "95F8A5E5DD31D900", "8000000000000000"),  # NBS SP 500-20, variable plaintext, round 1
        ("8001010101010101", "0000000000000000", "95A8D72813DAA94D"),  # NBS SP 500-20, variable key, round 1
    ],
)
def test_des_vectors(key, plain, expected):
    spec = CipherSpec("des", bytes.fromhex(key), b"", mode="ecb")
    enc = spec._cipher().encryptor()
    assert (enc.update(bytes.fromhex(plain)) + enc.finalize()).hex().upper() == expected


def test_provincial_layers_are_des_then_base64_then_hex():
    spec = CipherSpec("des", b"12345678", b"abcdefgh", encodings=("base64", "hex"))
    text = spec.seal(b'[{"x": 1}]')
    import base64

    raw = base64.b64decode(bytes.fromhex(text))
    assert len(raw) % 8 == 0 and spec.open(text) == b'[{"x": 1}]'


def test_wrong_key_bad_padding_bad_text():
    good = CipherSpec("sm4", b"k" * 16, b"i" * 16)
    text = good.seal(b"hello world, this is sixteen+")
    wrong = CipherSpec("sm4", b"K" * 16, b"i" * 16)
    try:  # almost always bad padding; else garbage, which the decoder refuses as not JSON
        assert wrong.open(text) != b"hello world, this is sixteen+"
    except CryptoError as exc:
        assert "填充" in str(exc.reason) and exc.reason.render("en").startswith("bad padding")
    with pytest.raises(CryptoError, match="十六进制"):
        good.open("zz")
    with pytest.raises(CryptoError, match="整数倍") as e:
        good.open("abcd")
    assert e.value.reason.render("en") == "cipher text of 2 bytes is not a whole number of 16-byte blocks"
    assert str(e.value.reason) == "密文长度 2 字节不是 16 的整数倍"
    b64 = CipherSpec("des", b"12345678", b"abcdefgh", encodings=("base64", "hex"))
    with pytest.raises(CryptoError, match="Base64"):
        b64.open(b"not base64!!".hex())


# -- the decoder --------------------------------------------------------------------------------
KEY, IV = b"k" * 16, b"i" * 16
DKEY, DIV = b"12345678", b"abcdefgh"


def reg():
    return Registry(
        {
            ("national", "APP1"): GatewayKeys("E1", CipherSpec("sm4", KEY, IV), "s3cret"),
            ("provincial", "GW1"): GatewayKeys("E1", CipherSpec("des", DKEY, DIV, encodings=("base64", "hex")), None),
            ("provincial", "GW2"): GatewayKeys("E2", CipherSpec("des", DKEY, DIV, encodings=("base64", "hex")), None),
        },
        {"E1": "320000000001", "E2": "320000000002"},
        {"E1": {"3200000000010000001": 1, "3200000000010000002": 2}, "E2": {"3200000000020000001": 3}},
    )


def local(t: float) -> str:
    return datetime.fromtimestamp(t, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")


def prov(items, gw="GW1", qybm="320000000001", key=DKEY) -> bytes:
    spec = CipherSpec("des", key, DIV, encodings=("base64", "hex"))
    return orjson.dumps({"qybm": qybm, "wgbm": gw, "data": spec.seal(orjson.dumps(items))})


def test_provincial_rts_decodes_in_the_site_zone():
    now = time.time()
    ts = local(now - 60)
    inbound = decode(
        PROVINCIAL,
        "rts",
        prov(
            [
                {"tnm": "3200000000010000001", "ts": ts, "val": "27.20"},
                {"tnm": "3200000000010000002", "ts": ts, "val": 3},
            ]
        ),
        {},
        reg(),
        now,
        "Asia/Shanghai",
    )
    assert inbound.enterprise == "E1" and inbound.parsed.count == 2 and inbound.parsed.keyed
    [(mid, [r, _])] = inbound.parsed.messages
    assert r.point_id == 1 and r.value == 27.2 and abs(r.t - (now - 60)) < 1
    assert mid is None  # no message id: the store judges repeats by (point, time)
    assert parse_time("2026-01-01 08:00:00", "%Y-%m-%d %H:%M:%S", "Asia/Shanghai") == 1767225600.0


def test_national_needs_its_appsecret():
    now = time.time()
    body = orjson.dumps(
        {
            "appid": "APP1",
            "data": CipherSpec("sm4", KEY, IV).seal(
                orjson.dumps([{"tnm": "3200000000010000001", "ts": local(now), "val": "1.5"}])
            ),
        }
    )
    assert decode(NATIONAL, "rts", body, {"appsecret": "s3cret"}, reg(), now, "Asia/Shanghai").parsed.count == 1
    for headers in ({}, {"appsecret": "wrong"}):
        with pytest.raises(PlatformError) as e:
            decode(NATIONAL, "rts", body, headers, reg(), now, "Asia/Shanghai")
        assert e.value.code == 401 and "appsecret" in str(e.value.reason)


@pytest.mark.parametrize(
    "body, code, words",
    [
        (b"{", 400, "JSON"),
        (b"[]", 400, "对象"),
        (orjson.dumps({"qybm": "320000000001", "data": "00"}), 400, "网关"),
        (orjson.dumps({"qybm": "320000000001", "wgbm": "NOPE", "data": "00"}), 401, "未登记"),
        (orjson.dumps({"qybm": "320000000002", "wgbm": "GW1", "data": "00"}), 403, "企业编码"),
        (orjson.dumps({"qybm": "320000000001", "wgbm": "GW1", "data": "xyz"}), 400, "十六进制"),
        (orjson.dumps({"qybm": "320000000001", "wgbm": "GW1", "data": b"@@@@".hex()}), 400, "Base64"),
    ],
)
def test_bad_envelopes(body, code, words):
    with pytest.raises(PlatformError) as e:
        decode(PROVINCIAL, "rts", body, {}, reg(), time.time(), "Asia/Shanghai")
    assert e.value.code == code and words in str(e.value.reason)
    assert not CJK.search(e.value.reason.render("en")), e.value.reason.render("en")


def test_bad_items_refuse_the_whole_request():
    now = time.time()
    ok = {"tnm": "3200000000010000001", "ts": local(now), "val": "1"}
    cases = [
        ([ok, {**ok, "ts": "2026/01/01"}], 400, "时间"),
        ([ok, {**ok, "ts": local(now - 40 * 86400)}], 400, "范围"),
        ([ok, {**ok, "val": "abc"}], 400, "数值"),
        ([ok, {**ok, "val": "nan"}], 400, "数值"),
        ([ok, {**ok, "tnm": "3200000000020000001"}], 403, "未登记"),  # E2's code through E1's gateway
        ([ok, 5], 400, "对象"),
        ([], 400, "非空"),
    ]
    for items, code, words in cases:
        with pytest.raises(PlatformError) as e:
            decode(PROVINCIAL, "rts", prov(items), {}, reg(), now, "Asia/Shanghai")
        zh, en = str(e.value.reason), e.value.reason.render("en")
        assert e.value.code == code and words in zh and " / " not in zh, (items, zh)
        assert not CJK.search(en) and en != zh, en
    with pytest.raises(PlatformError) as e:  # wrong key: bad padding, or garbage that is not JSON
        decode(PROVINCIAL, "rts", prov([ok], key=b"87654321"), {}, reg(), now, "Asia/Shanghai")
    assert e.value.code == 400 and ("填充" in str(e.value.reason) or "JSON" in str(e.value.reason))


def test_a_refusal_names_the_first_bad_items_each_in_the_readers_language():
    """The list is a text per item, joined when rendered; past ``SHOWN`` it says how many more."""
    now = time.time()
    ok = {"tnm": "3200000000010000001", "ts": local(now), "val": "1"}
    items = [ok, 5, {**ok, "val": "abc"}, {**ok, "ts": "x"}, {"ts": local(now)}, 6, 7, 8]
    with pytest.raises(PlatformError) as e:
        decode(PROVINCIAL, "rts", prov(items), {}, reg(), now, "Asia/Shanghai")
    assert e.value.code == 400
    assert str(e.value.reason) == (
        "条目无效：#1：条目必须是对象; #2：数值 val 不是有限数; #3：时间 ts 格式应为 %Y-%m-%d %H:%M:%S; "
        "#4：缺少点位编码 tnm; #5：条目必须是对象; 另有 2 条"
    )
    assert e.value.reason.render("en") == (
        "invalid items: #1: item must be an object; #2: value val is not a finite number; "
        "#3: bad time: ts must be in the format %Y-%m-%d %H:%M:%S; #4: missing point code tnm; "
        "#5: item must be an object; 2 more"
    )
    with pytest.raises(PlatformError) as e:
        decode(PROVINCIAL, "rts", prov([ok, {**ok, "ts": local(now - 40 * 86400)}]), {}, reg(), now, "Asia/Shanghai")
    assert str(e.value.reason) == "条目无效：#1：时间超出可接受范围（30 天前至 10 分钟后）"
    assert e.value.reason.render("en") == "invalid items: #1: time out of range (30 days ago to 10 minutes ahead)"


def test_alarm_items():
    now = time.time()
    items = [
        {
            "ts": local(now),
            "oname": "3200000000010000001",
            "avx": "75.1",
            "scd": 4,
            "threshold": "70",
            "content": "料斗温度超高高限",
        }
    ]
    inbound = decode(PROVINCIAL, "events", prov(items), {}, reg(), now, "Asia/Shanghai")
    (a,) = inbound.alarms
    assert inbound.parsed is None and a.point_id == 1 and a.status == 4 and a.content == "料斗温度超高高限"
    with pytest.raises(PlatformError):
        decode(PROVINCIAL, "events", prov([{**items[0], "content": "bad\x00text"}]), {}, reg(), now, "Asia/Shanghai")


def test_answers_follow_the_convention():
    assert answer(PROVINCIAL, 200, "") == (200, {"code": 200, "msg": "操作成功", "data": None})
    assert answer(PROVINCIAL, 400, "坏") == (400, {"code": 400, "msg": "坏", "data": None})


def test_settings_validate(site):
    ents = site.enterprises
    with pytest.raises(ValueError, match="environment"):
        parse_platforms(
            {"gateways": [{"id": "G", "platform": "national", "enterprise": "E1", "key": "x"}]}, ents, site.points
        )
    with pytest.raises(ValueError, match="unknown enterprise"):
        parse_platforms(
            {"gateways": [{"id": "G", "platform": "national", "enterprise": "E9", "key_env": "K"}]}, ents, site.points
        )
    with pytest.raises(ValueError, match="needs a code"):  # provincial envelopes carry the enterprise code
        parse_platforms(
            {"gateways": [{"id": "G", "platform": "provincial", "enterprise": "E1", "key_env": "K", "iv_env": "I"}]},
            ents,
            site.points,
        )
    p = parse_platforms(
        {"platforms": {"provincial": {"prefix": "/p2", "envelope": {"gateway": "gw"}}}}, ents, site.points
    )
    assert p.formats["provincial"].paths["rts"] == "/p2/api/rtsData"
    assert p.formats["provincial"].envelope == {"enterprise": "qybm", "gateway": "gw", "data": "data"}


# -- the upstream channel's routing (pure) ---------------------------------------------------------
def test_upstream_hears_every_event_once_never_grouped_or_silenced():
    from warning.alerts import AlertEngine
    from warning.config import Channel
    from warning.model import Finding, PointRef, Severity
    from warning.policy.policies import parse_policy
    from warning.policy.router import Router
    from warning.policy.silences import Silence

    chans = [
        Channel("robot", "wecom", "blue", {"url": "http://x"}),
        Channel("up", "upstream", "yellow", {"url": "http://y"}),
    ]
    pol = parse_policy({"noise": {"group_interval": 60}}, {"robot", "up"})
    eng, r = AlertEngine(pol), Router(pol, chans)
    r.set_silences([Silence("s1", {"enterprise": "E1", "device": "DC9"}, 0, 2e9, "ops", "维护")])
    out = []
    t0 = 1_800_000_000.0
    for i in range(5):  # five yellow alerts in one group window (orange and red never wait), one silenced
        dev = "DC9" if i == 4 else f"DC{i}"
        out += r.route(
            eng.observe(PointRef("E1", dev, "spark"), Finding("threshold", Severity.YELLOW, t0 + i, 1.0, "spark")),
            t0 + i,
        )
    blue = eng.observe(PointRef("E1", "DC7", "dp"), Finding("threshold", Severity.BLUE, t0 + 6, 1.0, "dp"))
    out += r.route(blue, t0 + 6)
    aid = next(n.alert_id for n in out if n.channel == "up")
    out += r.route(eng.acknowledge(aid, "duty", "已到场", t0 + 10), t0 + 10)
    ups = [n for n in out if n.channel == "up"]
    assert [n.kind for n in ups] == ["upstream:raised"] * 5 + ["upstream:acknowledged"]  # blue is below yellow
    assert len({n.id for n in ups}) == 6 and all(len(n.items) == 1 for n in ups)
    assert len([n for n in out if n.channel == "robot"]) == 1  # the robot got the first, the rest wait (group)


def test_keyed_admission_takes_each_point_and_time_once():
    from warning.model import Reading
    from warning.step import admit_keyed, keyed_as_ids, reading_keys

    msgs = [(None, [Reading(1, 10.0, 1.0), Reading(2, 10.0, 2.0), Reading(1, 10.0004, 3.0), Reading(1, 11.0, 4.0)])]
    assert reading_keys(msgs) == [(1, 10000), (2, 10000), (1, 10000), (1, 11000)]
    taken: set = set()
    got, dups = admit_keyed(msgs, {(2, 10000)}, taken)  # (2, 10 s) is stored already
    assert [r.value for r in got] == [1.0, 4.0] and dups == 2  # the same millisecond again is a repeat
    assert admit_keyed(msgs, set(), taken) == ([msgs[0][1][1]], 3)  # later in the same commit: repeats of the taken
    # the distributed runtime judges by message id: one a reading, named by point and millisecond
    assert [m for m, _ in keyed_as_ids(msgs)] == ["pk:1:10000", "pk:2:10000", "pk:1:10000", "pk:1:11000"]


def test_alarm_texts_go_through_textcheck():
    now = time.time()
    bad = {"ts": local(now - 60), "oname": "3200000000010000001", "avx": "1", "scd": 4, "content": "超限\x7f"}
    with pytest.raises(PlatformError) as exc:
        decode(PROVINCIAL, "events", prov([bad]), {}, reg(), now, "Asia/Shanghai")
    assert exc.value.code == 400 and "U+007F" in str(exc.value.reason)  # textcheck's own words
    assert str(exc.value.reason) == "条目无效：#0：content 含有不允许的控制字符 U+007F"
    assert exc.value.reason.render("en") == "invalid items: #0: content contains the control character U+007F"
    with pytest.raises(PlatformError) as exc:
        decode(PROVINCIAL, "events", prov([{**bad, "content": ["x"]}]), {}, reg(), now, "Asia/Shanghai")
    assert exc.value.reason.render("en") == "invalid items: #0: content must be a string"
    long = {**bad, "content": "长" * 2000}
    [alarm] = decode(PROVINCIAL, "events", prov([long]), {}, reg(), now, "Asia/Shanghai").alarms
    assert alarm.content == "长" * 500
