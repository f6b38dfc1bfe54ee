"""JUnit XML of a verify run, for CI systems that read it."""
from __future__ import annotations

import json
from proofcheck.verdict import LemmaResult, Verdict
from proofcheck.surface.report import check_replay, known_finding, replay_command


JUNIT_ELEMENT = {Verdict.REFUTED: "failure", Verdict.ERROR: "error", Verdict.INCONCLUSIVE: "skipped"}


def junit_xml(results: list[LemmaResult]) -> str:
    """JUnit XML for CI: one testsuite per lemma, one testcase per check;
    REFUTED is a failure, ERROR an error, INCONCLUSIVE a skip (never a pass);
    informative probes (``affects_verdict=False``) only report their outcome."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="proofcheck")
    for r in results:
        counted = [c.verdict for c in r.checks if c.affects_verdict and not r.as_expected]
        suite = ET.SubElement(root, "testsuite", name=r.lemma_id, tests=str(len(r.checks)),
                              failures=str(counted.count(Verdict.REFUTED)), errors=str(counted.count(Verdict.ERROR)),
                              skipped=str(counted.count(Verdict.INCONCLUSIVE)), time=f"{r.timing_s:.3f}")
        props = ET.SubElement(suite, "properties")
        tag = r.provenance.get("tag", "?")
        for name, value in [("provenance", f"[{tag}] {r.provenance.get('tag_meaning', '')}"),
                            ("spec_item", r.provenance.get("item", "")), ("verdict", r.verdict.value),
                            ("replay", replay_command(r))]:
            ET.SubElement(props, "property", name=name, value=str(value))
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=r.lemma_id, name=f"[{tag}] {c.kind}: {c.name}",
                                 time=f"{c.timing_s:.3f}")
            if r.as_expected and c.verdict is Verdict(r.expected["verdict"]):
                ET.SubElement(case, "skipped", message=known_finding(r))
                continue
            if not c.affects_verdict:
                # an assumption probe shows what happens outside the assumptions: shown, never a CI failure
                ET.SubElement(case, "system-out").text = f"informative probe: {c.verdict.value}: {c.summary}"
                continue
            element = JUNIT_ELEMENT.get(c.verdict)
            if element:
                detail = ET.SubElement(case, element, message=f"{c.verdict.value}: {c.summary}")
                if c.counterexample is not None:
                    detail.text = (json.dumps(c.counterexample, indent=2, sort_keys=True)
                                   + f"\nreplay: {check_replay(r, c)}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
