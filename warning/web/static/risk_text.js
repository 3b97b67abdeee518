// The risk pages' names for levels, states and steps: msgids of the "ui" catalogue (common.js's W.t).
"use strict";
const RISK_NAMES = {
  none: W.N_("No warning"), report: W.N_("Hazard report"), warning: W.N_("Risk warning"),
  open: W.N_("To sign"), signed: W.N_("Signed"), replied: W.N_("Replied"), returned: W.N_("Returned"), closed: W.N_("Closed"),
  opened: W.N_("Issued"), sign: W.N_("Signed"), reply: W.N_("Replied"), return: W.N_("Returned"), close: W.N_("Closed"),
  escalate: W.N_("Escalated"), level: W.N_("Level changed"), renewed: W.N_("Warned again"), cleared: W.N_("Condition over"),
  true: W.N_("Confirmed"), false_alarm: W.N_("False alarm"), maintenance: W.N_("Maintenance"),
};
function rt(key) {
  if (["red", "orange", "yellow", "blue"].includes(key)) return W.sevName(key);
  return RISK_NAMES[key] ? W.t(RISK_NAMES[key]) : key;
}
// One line of a warning's explanation. A "ceiling" term carries no points (it says why the
// colour stops where it does), so it shows without a share rather than as a misleading 0 %.
function factorText(f) {
  return f.group === "ceiling" ? f.name : `${f.name}: ${Math.round(f.share * 100)}%`;
}
