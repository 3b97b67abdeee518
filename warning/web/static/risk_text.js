// The risk pages' strings: Chinese first, English second (by the page's or the browser's language).
"use strict";
const RISK_TEXT = {
  "street": ["所属街镇", "Street"], "risk now": ["当前风险", "Risk now"],
  "report a hazard": ["隐患举报", "Report a hazard"], "what did you see": ["发现的隐患", "What did you see"],
  "photo (optional)": ["照片(可选)", "Photo (optional)"], "contact (optional)": ["联系方式(可选)", "Contact (optional)"],
  "question": ["请回答", "Answer"], "send": ["提交", "Send"], "sent": ["已提交, 谢谢! 街镇将跟进处理。", "Sent, thank you: the street will follow it up."],
  "none": ["无预警", "No warning"], "blue": ["蓝色", "Blue"], "yellow": ["黄色", "Yellow"], "orange": ["橙色", "Orange"], "red": ["红色", "Red"],
  "risk warnings": ["风险预警", "Risk warnings"], "no warnings": ["暂无风险预警", "No risk warnings"],
  "sign": ["签收", "Sign for it"], "reply": ["回复", "Reply"], "cause": ["原因", "Cause"], "measures": ["已采取措施", "Measures taken"],
  "verdict": ["核查结论", "Verdict"], "true": ["属实", "True"], "false_alarm": ["误报", "False alarm"], "maintenance": ["检修", "Maintenance"],
  "photos": ["照片", "Photos"], "close": ["审核销号", "Review and close"], "return": ["退回", "Return"], "note": ["说明", "Note"],
  "timeline": ["处理记录", "Timeline"], "why": ["预警依据", "Why"], "opened": ["发布", "Issued"], "escalate": ["超时升级", "Escalated"],
  "level": ["等级变化", "Level changed"], "cleared": ["条件解除", "Condition over"], "state": ["状态", "State"],
  "open": ["待签收", "To sign"], "signed": ["已签收", "Signed"], "replied": ["已回复待审核", "Replied"], "returned": ["已退回", "Returned"],
  "closed": ["已销号", "Closed"], "report": ["隐患举报", "Hazard report"], "warning": ["风险预警", "Risk warning"],
  "failed": ["失败", "Failed"], "system": ["系统", "system"],
};
function riskLang() {
  const pref = (localStorage.getItem("lang") || navigator.language || "zh-CN").toLowerCase();
  return pref.startsWith("en") ? 1 : 0;
}
function rt(key) { const v = RISK_TEXT[key]; return v ? v[riskLang()] : key; }
function riskApplyText(root) {
  (root || document).querySelectorAll("[data-t]").forEach(el => { el.textContent = rt(el.dataset.t); });
}
