"""The questionnaire format as a JSON Schema, for editors: msgspec's schema of the model, described.

`survey schema` prints it; `docs/questionnaire.schema.json` is its committed copy. The schema
checks the shape of a file (keys, types, patterns, ranges); the cross-references between its
parts (a likert item's scale and dimension, unique ids, the last profile and band) are checked
by the loader alone, as `survey validate` does.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from survey.core.model import Questionnaire

TITLE = "Connector Survey questionnaire"
DESCRIPTION = (
    "A questionnaire for Connector Survey, written in YAML: docs/questionnaire-format.md "
    "describes every key. The schema checks the shape; `survey validate FILE` also checks the "
    "cross-references (scales, dimensions, unique ids, the last profile and feedback band)."
)

# Draft 7 rather than msgspec's 2020-12: the YAML language server and most editors implement
# draft 7, and the schema uses nothing newer.
DRAFT = "http://json-schema.org/draft-07/schema#"

_ITEM = {
    "type": "The kind of item: likert, choice, multi_choice, number or text.",
    "id": "Unique among all the items of the questionnaire: a lowercase letter, then lowercase "
    "letters, digits or _ (at most 64). Answers are keyed by it.",
    "text": "The question or statement, as the respondent sees it (plain text).",
    "required": "Whether a submission must answer this item (when it is shown).",
    "show_if": "Show the item only when this condition on an earlier item's answer holds; "
    "answers to an item not shown are dropped.",
    "check": "Makes it an attention item (likert or choice): the answer its text asks for. "
    "Never scored; any other answer flags the response.",
}
_BOUNDS = {
    "at_least": "Holds when the score is at least this (score >= x).",
    "below": "Holds when the score is below this (score < x).",
}
_CONDITION = {
    **_BOUNDS,
    "missing": "true: holds when there is no score (too few answers), and only then; "
    "takes no bounds.",
}

# What each definition and each of its keys means; tests/unit/test_schema.py checks that every
# key of the model has a line here and that no line names a key the model no longer has.
STRUCTS: dict[str, tuple[str, dict[str, str]]] = {
    "Questionnaire": (
        DESCRIPTION,
        {
            "slug": "Names the questionnaire in URLs and exports: lowercase letters, digits and "
            "-, at most 64; unique among the files served.",
            "title": "Shown at the top of the form and the result page.",
            "description": "Shown above the form; paragraphs are separated by a blank line.",
            "consent": "Text of a consent checkbox above the submit button; when set, a "
            "submission must agree to it.",
            "quote_consent": "Text of an optional second checkbox on the form: agreement to be "
            "quoted. Reports quote free-text answers only from respondents who agreed.",
            "scales": "Answer scales for likert items, by name.",
            "dimensions": "What the likert items measure; each gets a score from 0 to 100.",
            "sections": "The form's sections, in order; at least one.",
            "scoring": "How much must be answered for a score, and how dimensions make the index.",
            "profiles": "The result's profile: the first whose `when` holds. Every result a "
            "response can reach needs a profile written for it (checked on loading).",
            "quality": "When a response is flagged as careless or inauthentic (flagged, never "
            "refused); not part of the version.",
            "channels": "The recruiting channels a survey link may name with `?src=ID` (or "
            "`utm_source`); any other name is counted as `other`. Without a list, any name of "
            "a channel id's shape is kept. Not part of the version.",
            "paging": "none: the whole form on one page. section: a section a page, each page "
            "saved as a draft with a private resume link; the consents on the last page.",
        },
    ),
    "Scale": (
        "The answer points of likert items: one label per point, from lowest to highest.",
        {
            "labels": "At least two; shown in this order.",
            "values": "The value of each label: whole numbers, strictly increasing, one per "
            "label. Default 1, 2, ... up to the number of labels.",
            "na": "The label of a 'not applicable' choice after the points. Its answer is the "
            "string na: stored, never scored, and the item does not count towards its "
            "dimension's share of answers.",
        },
    ),
    "Dimension": (
        "One thing the questionnaire measures, scored 0-100 from its likert items.",
        {
            "id": "Unique among the dimensions; likert items, weights and profiles name it.",
            "name": "Shown on the result page and in reports.",
            "description": "One or two sentences shown under the score.",
            "feedback": "Text for the respondent chosen by score: the first band that holds. "
            "The last band has no condition.",
        },
    ),
    "Band": (
        "A feedback text and the scores it is for.",
        {"text": "Shown on the result page under the dimension's score.", **_BOUNDS},
    ),
    "Section": (
        "A group of items under a heading.",
        {
            "id": "Unique among the sections.",
            "title": "The section's heading.",
            "description": "Shown under the heading; paragraphs are separated by a blank line.",
            "show_if": "Show the section's items only when this condition on an earlier item's "
            "answer holds.",
            "randomize": "Show the items in an order of each respondent's own, stored with "
            "the response (item_order in exports).",
            "items": "The questions, in order; at least one.",
        },
    ),
    "ShowIf": (
        "A display condition on the answer to an earlier item; every key given must hold.",
        {
            "item": "The id of an item before this one (before the section, for a section).",
            "at_least": "Holds when the answer is a number at least this (likert, number).",
            "below": "Holds when the answer is a number below this (likert, number).",
            "in": "Holds when the answer is one of these options (choice), or includes one "
            "(multi_choice); on a likert item, [na]: the answer is not applicable.",
            "answered": "true: holds when the item is answered; false: when it is not.",
        },
    ),
    "LikertItem": (
        "A statement rated on a scale; it counts towards its dimension's score.",
        {
            **_ITEM,
            "scale": "The name of a scale under `scales`.",
            "dimension": "The id of the dimension it scores (every likert item but an attention "
            "item has one).",
            "reverse": "Reverse-keyed: a high answer counts low (keyed = min + max - value).",
        },
    ),
    "ChoiceItem": (
        "One answer from a list of options.",
        {
            **_ITEM,
            "options": "The answers to choose from; at least one, no duplicates.",
            "segment": "Break reports down by this item's answers, and let them be filtered on.",
        },
    ),
    "MultiChoiceItem": (
        "Any number of answers from a list of options.",
        {**_ITEM, "options": "The answers to choose from; at least one, no duplicates."},
    ),
    "NumberItem": (
        "A number, optionally bounded.",
        {
            **_ITEM,
            "min": "The smallest answer allowed (inclusive).",
            "max": "The largest answer allowed (inclusive); not less than `min`.",
            "integer": "Whether only whole numbers are allowed.",
            "segment": "Break reports down by each distinct answer, and let them be filtered on.",
        },
    ),
    "TextItem": (
        "Free text.",
        {**_ITEM, "max_length": "The longest answer allowed, in characters (1 to 100000)."},
    ),
    "ScoringSpec": (
        "How dimension scores and the index are made.",
        {
            "min_answered": "The share of a dimension's likert items that must be answered for "
            "it to get a score (more than 0, at most 1).",
            "index": "The overall score: a weighted mean of dimension scores.",
        },
    ),
    "IndexSpec": (
        "The overall score, a weighted mean of dimension scores.",
        {
            "id": "The index's id in reports.",
            "name": "Its name on the result page and in reports.",
            "weights": "Weight (> 0) by dimension id; dimensions not named are left out of the "
            "index. Default: every dimension, weight 1.",
        },
    ),
    "Check": (
        "An attention item's instructed answer.",
        {"expect": "The scale value (likert) or option (choice) the item's text asks for."},
    ),
    "QualitySpec": (
        "Thresholds for the quality flags; docs/questionnaire-format.md explains each.",
        {
            "min_seconds": "Too fast: fewer seconds than this on the form.",
            "seconds_per_item": "Too fast: fewer seconds than this times the questions answered.",
            "longstring": "Straightlining: the share of answered likert items in one run of "
            "the same answer (default 0.8).",
            "min_run": "Straightlining needs a run of at least this many items (default 8).",
            "inconsistency": "Inconsistent: the mean gap (0-100) between a dimension's keyed "
            "scores on its statements and on their reverse-keyed opposites (default 60).",
            "outlier_p": "Outlier: dimension scores less likely than this against the clean "
            "responses (Mahalanobis distance, chi-square tail; default 0.001).",
            "min_norm": "Outliers are looked for once this many clean responses are scored "
            "(default 200).",
            "repeat_hours": "Repeat: the same answers again within this many hours (default 24).",
        },
    ),
    "Channel": (
        "A recruiting channel: a survey link with `?src=ID` counts its responses under it.",
        {
            "id": "What the link carries: lowercase letters, digits, - and _ (at most 40).",
            "label": "Its name on the dashboard.",
        },
    ),
    "Profile": (
        "A profile a respondent can get.",
        {
            "id": "Unique among the profiles.",
            "label": "The profile's name, shown as the result.",
            "summary": "What it means, shown on the result page; paragraphs are separated by a "
            "blank line.",
            "when": "The conditions that must all hold. Left out only when there is a single "
            "profile, for everyone with an index.",
        },
    ),
    "When": (
        "Conditions on the index and on dimension scores; all must hold.",
        {
            "index": "A condition on the index.",
            "dimensions": "A condition per dimension id; a dimension without a score fails it.",
        },
    ),
    "Condition": (
        "A range of scores: at_least <= score < below; either bound may be left out. Or "
        "missing: true, for no score.",
        _CONDITION,
    ),
}


# Lists the loader rejects repeats in (scale values must increase): the schema can say as much.
_UNIQUE = {("Scale", "values"), ("ChoiceItem", "options"), ("MultiChoiceItem", "options")}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7) of a questionnaire file, built from the model."""
    generated = msgspec.json.schema(Questionnaire)
    definitions: dict[str, Any] = generated["$defs"]
    for name, definition in definitions.items():
        description, fields = STRUCTS.get(name, ("", {}))
        definition["description"] = description
        for key, prop in definition["properties"].items():
            prop["description"] = fields.get(key, "")
            if (name, key) in _UNIQUE:
                array = prop if "type" in prop else prop["anyOf"][0]  # `values` may be null
                array["uniqueItems"] = True
    root = definitions.pop("Questionnaire")
    del root["title"]
    description = root.pop("description")
    schema = {"$schema": DRAFT, "title": TITLE, "description": description, **root}
    schema["definitions"] = definitions
    return _draft7(schema)


def _draft7(node: Any) -> Any:
    """`#/$defs/X` → `#/definitions/X`, and tagged unions dispatched on their tag."""
    if isinstance(node, dict):
        if "discriminator" in node:
            return _draft7(_dispatch(node))
        return {
            key: "#/definitions/" + value.removeprefix("#/$defs/")
            if key == "$ref"
            else _draft7(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_draft7(value) for value in node]
    return node


def _dispatch(union: dict[str, Any]) -> dict[str, Any]:
    """A tagged union as `if tag is X then X's schema`, in place of msgspec's `anyOf`.

    Against an `anyOf` a validator can only say that an item matches none of the kinds; this way
    a misspelt key in a likert item is reported as that, against the likert item's schema.
    `discriminator`, which picks the kind in OpenAPI, is no JSON Schema word.
    """
    tag = union["discriminator"]["propertyName"]
    kinds: dict[str, str] = union["discriminator"]["mapping"]
    return {
        "type": "object",
        "properties": {tag: {"enum": list(kinds), "description": "The kind: " + ", ".join(kinds)}},
        "required": [tag],
        "allOf": [
            {
                "if": {"properties": {tag: {"const": kind}}, "required": [tag]},
                "then": {"$ref": ref},
            }
            for kind, ref in kinds.items()
        ],
    }


def json_text() -> str:
    """The schema as `docs/questionnaire.schema.json` holds it: indented, ending in a newline."""
    return json.dumps(json_schema(), indent=2) + "\n"
