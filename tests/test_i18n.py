"""Chinese first (issue 13): every text the server builds comes from the ``warning`` catalogue,
and the zh-CN catalogue has no untranslated entry. The walk covers the message ids written in
the code (found by reading its syntax tree), the ids that come from configuration (point
kinds, dust types, rule ids, severities, event kinds, states), every alert message template
rendered for every rule of every point kind, and every channel text. A planted untranslated
string makes the checks fail."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from detectors.chain import FACTORIES
from warning import i18n, messages
from warning.config import PointDef, config_dir, load_kinds
from warning.model import AlertState, EventKind, Finding, PointRef, Severity
from warning.policy import formats

ROOT = Path(__file__).resolve().parent.parent
#: call -> (index of the msgid argument, context: fixed, an argument index, or None)
KEYWORDS = {
    "translate": (0, None),
    "N_": (0, None),
    "AlertError": (0, None),
    "AlertNotFound": (0, None),
    "fail": (1, None),
    "word": (1, 0),
    "error": (3, None),
    "SilenceError": (0, None),
    "refusal": (2, None),
    "Text.of": (0, None),
}
LATIN = re.compile(r"[A-Za-z]{2,}")


def code_msgids(root: Path = ROOT / "warning") -> set[tuple[str | None, str]]:
    """(context, msgid) of every catalogue call with literal arguments in the package."""
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = (
                node.func.id
                if isinstance(node.func, ast.Name)
                else (node.func.attr if isinstance(node.func, ast.Attribute) else None)
            )
            if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                if f"{node.func.value.id}.{node.func.attr}" in KEYWORDS:  # Text.of("...")
                    name = f"{node.func.value.id}.{node.func.attr}"
            if name not in KEYWORDS:
                continue
            at, ctx_at = KEYWORDS[name]
            if len(node.args) <= at or not isinstance(node.args[at], ast.Constant):
                continue
            if not isinstance(node.args[at].value, str):  # e.g. bytes.translate(None, ...): not ours
                continue
            ctx = None
            if ctx_at is not None:
                if not isinstance(node.args[ctx_at], ast.Constant):
                    continue
                ctx = node.args[ctx_at].value
            ctx_kw = next((k.value for k in node.keywords if k.arg == "context"), None)
            if isinstance(ctx_kw, ast.Constant):
                ctx = ctx_kw.value
            found.add((ctx, node.args[at].value))
    return found


def config_msgids() -> set[tuple[str | None, str]]:
    """Ids that come from configuration and enums rather than from the code's literals."""
    ids = set()
    kinds = load_kinds()
    for kind in kinds.values():
        ids.add(("point", kind["title"]))
        for spec in kind.get("detectors", []):
            ids.add(("rule", spec.get("id", spec["type"])))
    for path in list(config_dir().glob("*.toml")) + list(config_dir().glob("demo/*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        for e in raw.get("enterprises", []):
            if e.get("dust"):
                ids.add(("dust", e["dust"]))
    ids |= {("rule", t) for t in FACTORIES} | {("rule", r) for r in ("offline", "nodata", "dead_letter")}
    ids |= {(c, s.label) for s in Severity for c in ("severity", "severity-level")}
    ids |= {("event", k.value) for k in EventKind} | {("event", "group")}
    ids |= {("state", s.value) for s in AlertState} | {("state", "cleared, not signed for")}
    ids |= {("field", f) for f in formats.FIELDS} | {("unit", u) for u in messages.UNIT_WORDS}
    ids |= {("verdict", v) for v in ("confirmed", "false_alarm", "maintenance")}
    return ids


def missing(ids, locale: str = "zh-CN", directory: Path | None = None) -> list[str]:
    """Ids with no real translation in ``locale``: absent, or the English id itself."""
    cat = i18n.catalogue(locale, "warning", directory)
    out = []
    for ctx, msgid in sorted(ids, key=lambda x: (x[0] or "", x[1])):
        text = cat.get((ctx, msgid))
        english = bool(LATIN.search(re.sub(r"\{[^{}]*\}", "", msgid)))
        if text is None or (english and text == msgid):
            out.append(f"{ctx or ''}|{msgid}")
    return out


def test_every_message_id_in_the_code_and_configuration_is_translated_to_chinese():
    ids = code_msgids() | config_msgids()
    assert len(ids) > 100  # the walk really found the messages
    assert missing(ids) == []
    assert set(messages.TEMPLATES) <= {m for _, m in ids}


def test_every_catalogue_entry_is_translated_in_zh_cn_and_present_in_english():
    assert i18n.untranslated("zh-CN") == []
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    assert set(zh) == set(en)  # English is the second locale, entry for entry


def _points():
    for name, kind in load_kinds().items():
        yield PointDef(
            PointRef("E1", "DC1", name),
            name,
            kind.get("unit", ""),
            kind.get("title", name),
            tuple(kind.get("detectors", [])),
            kind.get("precision"),
        )


def _english_words(text: str, point: PointDef) -> list[str]:
    """Latin words left in a zh-CN text, apart from codes (point, device) and unit symbols."""
    allowed = {point.ref.point, point.ref.device, "O2"} | (set() if point.unit in messages.UNIT_WORDS else {point.unit})
    stripped = text
    for a in sorted(allowed, key=len, reverse=True):
        stripped = stripped.replace(a, " ")
    return LATIN.findall(stripped)


def test_every_template_rendered_for_every_rule_of_every_kind_reads_in_chinese():
    rendered = 0
    for point in _points():
        for spec in point.detectors:
            if spec["type"] in (
                "running",
                "load",
            ):  # signals: whether the device runs or its process loads it; never alert
                continue
            rule = spec.get("id", spec["type"])
            levels = [Severity.parse(s) for _, s in spec.get("levels", [])] or [
                Severity.parse(spec.get("severity", "blue"))
            ]
            for sev in levels + [None]:
                msg = messages.describe_finding(point.ref, Finding(rule, sev, 0.0, 72.04, "english"), point)
                assert msg is not None, (point.kind, rule, sev)
                text = messages.render(msg, "zh-CN")
                assert _english_words(text, point) == [], (point.kind, rule, text)
                assert messages.render(msg, "en") != text
                rendered += 1
    for ref, f in [
        (PointRef("E1", "DC1", ""), Finding("offline", Severity.YELLOW, 0, 301, "x")),
        (PointRef("E1", "DC1", ""), Finding("offline", None, 0, 0, "x")),
        (PointRef("_system", "outbox", "duty-robot"), Finding("dead_letter", Severity.ORANGE, 0, 8, "x")),
        (PointRef("_system", "worker", "duty-robot"), Finding("stalled", Severity.ORANGE, 0, 8, "x")),
        (PointRef("_system", "worker", "duty-robot"), Finding("stalled", None, 0, 0, "x")),
    ]:
        text = messages.render(messages.describe_finding(ref, f), "zh-CN")
        assert not [w for w in LATIN.findall(text.replace("DC1", "").replace("duty-robot", ""))], text
        rendered += 1
    assert rendered > 40


def test_the_issues_example_message():
    temp = next(p for p in _points() if p.kind == "hopper_temp")
    msg = messages.describe_finding(temp.ref, Finding("threshold", Severity.RED, 0, 72.0, "x"), temp)
    assert messages.render(msg) == "料斗温度 72.0 °C，超过红色限值 70 °C"
    assert messages.render(msg, "en") == "hopper temperature 72.0 °C, above the red limit 70 °C"
    rate = messages.describe_finding(temp.ref, Finding("slow_rate", Severity.ORANGE, 0, 45.26, "x"), temp)
    assert messages.render(rate) == "料斗温度 45.3 °C，上升速率超过橙色限值 0.8 °C/分钟"  # no "back to normal" in it
    back = messages.describe_finding(temp.ref, Finding("rate", None, 0, 40.0, "x"), temp)
    assert messages.render(back) == "料斗温度报警条件已消失"


def test_channel_texts_of_every_kind_and_severity_read_in_chinese():
    for kind in [k.value for k in EventKind]:
        for sev in Severity:
            alert = {
                "id": "a1",
                "enterprise": "E1",
                "device": "DC1",
                "point": "hopper_temp",
                "rule": "threshold",
                "severity": sev.label,
                "peak_severity": "red",
                "state": "active",
                "condition_active": False,
                "message": "料斗温度 72.0 °C，超过红色限值 70 °C",
                "holder": "值班员",
            }
            p = {
                "id": "e1",
                "kind": kind,
                "at": 0.0,
                "alert": alert,
                "enterprise_name": "苏州汇通木制品有限公司",
                "point_title": "hopper temperature",
                "note": "已到场",
                "link": "https://x.cn/alert/a1",
                "tier": {"name": "值班员"},
                "recipient": {"name": "张三"},
            }
            text = formats.title(p) + "\n" + "\n".join(formats.lines(p))
            words = LATIN.findall(text.replace("hopper_temp", "").replace("DC1", "").replace("https://x.cn/alert/", ""))
            assert words == [], (kind, sev, text)
    group = {
        "kind": "group",
        "at": 0.0,
        "enterprise": "E1",
        "enterprise_name": "企业",
        "count": 30,
        "severity": "yellow",
        "events": [p] * 20,
    }
    assert not LATIN.findall(
        "\n".join([formats.title(group)] + formats.lines(group))
        .replace("DC1", "")
        .replace("hopper_temp", "")
        .replace("https://x.cn/alert/", "")
    )


def test_channel_texts_show_times_in_the_sites_time_zone():
    """Issue 13: a channel text's time is the site's wall clock (``Site.timezone``, carried in
    the payload by the labels), not a fixed +08:00."""
    from warning.labels import Labels
    from warning.site import Site

    alert = {"id": "a1", "enterprise": "E1", "device": "DC1", "point": "dp", "rule": "threshold"}
    alert |= {"severity": "red", "peak_severity": "red", "state": "active", "message": "x"}
    at = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
    for zone, shown in (("Asia/Shanghai", "2026-05-29 04:26:40"), ("Europe/London", "2026-05-28 21:26:40")):
        labels = Labels.of(Site("s", 60.0, {}, (), {}, (), timezone=zone))
        p = labels.add_to({"id": "e1", "kind": "raised", "at": at, "alert": dict(alert)})
        assert p["timezone"] == zone and shown in "\n".join(formats.lines(p)), zone
    assert "2026-05-29 04:26:40" in "\n".join(formats.lines({"id": "e", "kind": "raised", "at": at, "alert": alert}))


def test_negotiation_prefers_the_user_then_accept_language_then_chinese():
    assert i18n.negotiate(None) == "zh-CN"
    assert i18n.negotiate("en-US,en;q=0.9") == "en"
    assert i18n.negotiate("fr, en;q=0.5, zh;q=0.8") == "zh-CN"
    assert i18n.negotiate("en", "zh-CN") == "zh-CN"
    assert i18n.negotiate("zh-CN", "en") == "en"
    assert i18n.negotiate("de") == "zh-CN"


def test_a_planted_untranslated_string_is_found(tmp_path):
    """The checks can fail: an empty msgstr, an English copy, and a message id the code uses
    but the catalogue lacks are all reported."""
    src = (i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "warning.po").read_text(encoding="utf-8")
    planted = src + (
        '\nmsgid "a new message nobody translated"\nmsgstr ""\n\n'
        'msgctxt "rule"\nmsgid "brand new rule"\nmsgstr "brand new rule"\n'
    )
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "warning.po").write_text(planted, encoding="utf-8")
    assert i18n.untranslated("zh-CN", directory=tmp_path) == ["a new message nobody translated", "rule|brand new rule"]
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text('from warning.i18n import translate\nx = translate("the pump is on fire")\n')
    assert missing(code_msgids(pkg) | {("rule", "brand new rule")}, directory=tmp_path) == [
        "|the pump is on fire",
        "rule|brand new rule",
    ]


def test_site_file_user_locale_and_timezone_are_validated(kinds):
    from tests.conftest import site_dict
    from warning.config import ConfigError, parse_site

    raw = site_dict()
    raw["users"][0]["locale"] = "en-GB"
    raw["site"]["timezone"] = "Europe/Berlin"
    site = parse_site(raw, kinds)
    assert site.users[raw["users"][0]["name"]].locale == "en" and site.timezone == "Europe/Berlin"
    raw["users"][0]["locale"] = "fr"
    with pytest.raises(ConfigError, match="locale"):
        parse_site(raw, kinds)
    raw["users"][0]["locale"] = "zh-CN"
    raw["site"]["timezone"] = "Mars/Olympus"
    with pytest.raises(ConfigError, match="timezone"):
        parse_site(raw, kinds)


CJK = re.compile(r"[\u4e00-\u9fff]")
#: The ledger's spreadsheet columns (``企业编号 id`` ...) and its 干式/湿式 cells are the file's
#: format (what an import reads), not texts for a reader.
FILE_FORMAT = {"table.py"}


def cjk_literals(paths) -> list[str]:
    """String literals with Chinese in them, docstrings apart: texts written in the code."""
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                if CJK.search(node.value):
                    found.append(f"{path.name}:{node.lineno}: {node.value[:60]}")
    return found


def test_no_bilingual_refusal_literal_left_in_the_web_shell_and_the_text_check():
    """Edge, body, admission, login and scope refusals come from the catalogue in the reader's
    language: no Chinese literal in the code that answers them."""
    web = list((ROOT / "warning" / "web").glob("*.py"))  # none exempt: the picker's names are entries too
    assert len(web) > 20
    assert cjk_literals([*web, ROOT / "warning" / "textcheck.py"]) == []


def test_no_bilingual_literal_left_in_the_ledgers_checks():
    """The ledger's field errors, credit-code checks and import refusals come from the catalogue."""
    ledger = [p for p in (ROOT / "warning" / "ledger").glob("*.py") if p.name not in FILE_FORMAT]
    assert {"check.py", "plan.py", "credit.py"} <= {p.name for p in ledger}
    from warning.ledger.check import RISK_GRADES

    spellings = set(RISK_GRADES.values())  # 重大风险 ...: what a cell or a record may say, not a text
    found = cjk_literals([*ledger, ROOT / "warning" / "live.py"])
    assert [f for f in found if f.split(": ", 1)[1] not in spellings] == []
    assert len(found) == len(spellings) - 1  # the walk saw them (all but the empty grade)


def _wire_format() -> set[str]:
    """Chinese words of warning/platforms/ that are the upstream platforms' wire format, not
    texts for a reader: push.py's kind labels (``kindZh``: 发布, 签收 ...: what the platform
    reads, spelled its way) and the answer's success message (``Answer.ok_msg`` 操作成功: the
    platform's own convention, configurable per format)."""
    from warning.platforms.push import KIND_ZH, RISK_ZH
    from warning.platforms.settings import Answer

    return {*KIND_ZH.values(), *RISK_ZH.values(), Answer().ok_msg}


def test_no_bilingual_literal_left_in_the_platform_codecs():
    """The platforms' refusals (envelope, cipher, items) come from the catalogue; what is left
    is the wire format the platforms define."""
    platforms = sorted((ROOT / "warning" / "platforms").glob("*.py"))
    assert {"decode.py", "crypto.py", "push.py", "settings.py"} <= {p.name for p in platforms}
    wire = _wire_format()
    found = cjk_literals(platforms)
    assert [f for f in found if f.split(": ", 1)[1] not in wire] == []
    assert {f.split(": ", 1)[1] for f in found} == wire  # the walk saw them all, and nothing else


def test_a_planted_bilingual_literal_is_found(tmp_path):
    (tmp_path / "m.py").write_text('"""文档 is fine."""\nx = json_error(400, "请求体为空 / empty body")\n')
    assert cjk_literals([tmp_path / "m.py"]) == ["m.py:2: 请求体为空 / empty body"]


def test_a_planted_untranslated_refusal_is_found(tmp_path):
    """A refusal written with Text.of or lang.refusal whose id the catalogue lacks is reported."""
    (tmp_path / "m.py").write_text(
        "from warning.i18n import Text\n"
        'a = Text.of("the edge is on fire: {n}", n=1)\n'
        'b = refusal(request, 400, "the body is on fire")\n'
    )
    assert missing(code_msgids(tmp_path)) == ["|the body is on fire", "|the edge is on fire: {n}"]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_refusals_render_in_the_readers_language(locale):
    from warning.textcheck import TextError, check_text
    from warning.web.body import text_error

    with pytest.raises(TextError) as caught:
        check_text("a\x00b", field="note", max_len=10)
    body = text_error(caught.value).response(locale).body.decode()
    if locale == "zh-CN":
        assert "note：含有不允许的控制字符 U+0000" in body
    else:
        assert "note: contains the control character U+0000" in body and not CJK.search(body)
