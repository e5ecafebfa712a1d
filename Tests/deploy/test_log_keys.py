"""Log metadata keys come from one place (MeshCore's LogKey): no string-literal key in a
`metadata: [...]` of any service, the proxy or the agent, so a field has one name everywhere."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def metadata_blocks(text):
    for match in re.finditer(r"metadata: \[", text):
        start = index = match.end()
        depth = 1
        while depth:
            depth += {"[": 1, "]": -1}.get(text[index], 0)
            index += 1
        yield text[start : index - 1]


def literal_keys():
    found = []
    for folder in ("Services", "Shared"):
        for path in sorted((ROOT / folder).rglob("*.swift")):
            if "MeshProto" in path.parts:
                continue
            for block in metadata_blocks(path.read_text()):
                found += [f"{path.relative_to(ROOT)}: {key}" for key in re.findall(r'"[^"]*"\s*:', block)]
    return found


def test_the_scan_sees_a_literal_key():
    assert list(metadata_blocks('log("x", metadata: ["mesh.error": "\\(e)"])')) == ['"mesh.error": "\\(e)"']


def test_no_literal_log_metadata_keys():
    assert literal_keys() == []


def test_every_key_is_mesh_snake_case():
    text = (ROOT / "Shared/MeshCore/LogKey.swift").read_text()
    values = re.findall(r'public static let \w+ = "([^"]*)"', text)
    assert values, "LogKey has no keys"
    assert [v for v in values if not re.fullmatch(r"mesh\.[a-z]+(_[a-z]+)*", v)] == []
    assert len(values) == len(set(values))
