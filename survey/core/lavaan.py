"""Confirmatory factor analysis in R: the item file's columns and rows, and the lavaan script.

Pure: the flow streams the rows and the script is text. Python has no trustworthy invariance
testing (ordinal items, WLSMV, scaled difference tests), so the service hands the data to
lavaan with a script that fits the questionnaire's dimensions as factors and, by a segment,
the configural → metric → scalar → strict sequence. Identifiers go into lavaan's model syntax
as they are: lavaan takes no quoted names, so an item id that is not a syntactic R name is
refused, and a factor whose dimension id could not be one gets a name of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from survey.core.csvcells import neutralise
from survey.core.model import (
    Answer,
    ChoiceItem,
    LikertItem,
    NumberItem,
    Questionnaire,
    derived,
)

# A likert item with this many points or fewer is ordinal to lavaan: WLSMV on polychorics.
ORDINAL_MAX_POINTS = 7
# Smaller groups are left out of the invariance models (the researcher may change it in R).
MIN_GROUP_SIZE = 100
RESPONSE_ID = "response_id"

# R's reserved words (?Reserved): never a name in lavaan's syntax, even in backquotes.
R_RESERVED = frozenset(
    ["if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
     "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in"]
)  # fmt: skip
_SYNTACTIC = re.compile(r"(?:[A-Za-z]|\.[A-Za-z_.])[A-Za-z0-9_.]*|\.")
_DOTS = re.compile(r"\.\.\.|\.\.[0-9]+")


class NotForLavaan(ValueError):
    """A questionnaire the script cannot be written for, and why."""


class NotASegment(ValueError):
    """A grouping that names no segment item of the questionnaire."""

    def __init__(self, q: Questionnaire, name: str) -> None:
        known = ", ".join(i.id for i in q.segments) or "none"
        super().__init__(f"{name!r} is not a segment item of {q.slug} (segment items: {known})")
        self.name = name


def r_name(name: str) -> bool:
    """Whether `name` is a syntactic R name, as lavaan's model syntax needs one."""
    return bool(_SYNTACTIC.fullmatch(name)) and name not in R_RESERVED and not _DOTS.fullmatch(name)


def r_string(text: str) -> str:
    """`text` as an R string literal."""
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return f'"{text}"'


def _comment(text: str) -> str:
    """Text from the questionnaire on one comment line: no line break can end the comment."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Factor:
    dimension: str
    name: str  # in the model: the dimension's id, unless that cannot be a factor's name
    items: tuple[LikertItem, ...]


def factors(q: Questionnaire) -> list[Factor]:
    """A factor for each dimension with two scored items or more; NotForLavaan if the model
    would name an item lavaan cannot read, or could not be identified."""
    unsafe = [i.id for i in q.likert_items() if not r_name(i.id)]
    if unsafe:
        raise NotForLavaan(
            "item ids that lavaan's model syntax cannot take (R reserved words, or not "
            f"syntactic R names): "
            f"{', '.join(unsafe)}; rename them in the questionnaire"
        )
    taken = {RESPONSE_ID, *(i.id for i in q.items)}
    found = []
    for dimension in q.dimensions:
        items = tuple(q.likert_items(dimension.id))
        if len(items) < 2:
            continue
        name = dimension.id
        # A factor named like a column, or like nothing R can read, would be misread.
        while name in taken or not r_name(name):
            name += "_f"
        taken.add(name)
        found.append(Factor(dimension.id, name, items))
    if not found:
        raise NotForLavaan(f"{q.slug} has no dimension with two scored likert items to model")
    if len(found) == 1 and len(found[0].items) == 2:
        raise NotForLavaan(
            f"{q.slug} has one factor with two items ({found[0].dimension}): it is not "
            "identified alone"
        )
    return found


def segment_item(q: Questionnaire, name: str) -> ChoiceItem | NumberItem:
    """The segment item `name` names; NotASegment otherwise."""
    found = next((i for i in q.segments if i.id == name), None)
    if found is None:
        raise NotASegment(q, name)
    return found


# --- the item file --------------------------------------------------------------------------


def columns(q: Questionnaire, group_by: str | None = None) -> list[str]:
    """The item file's header: response_id, the grouping segment if any, each scored item."""
    if group_by is not None:
        segment_item(q, group_by)
    return [RESPONSE_ID, *([group_by] if group_by else []), *(i.id for i in q.likert_items())]


@dataclass(frozen=True)
class _Keying:
    id: str
    points: frozenset[int]
    flip: int | None  # min + max for a reverse-keyed item


def _keying(q: Questionnaire) -> list[_Keying]:
    out = []
    for item in q.likert_items():
        points = q.scales[item.scale].points
        flip = min(points) + max(points) if item.reverse else None
        out.append(_Keying(item.id, frozenset(points), flip))
    return out


def _segment_cell(value: Answer) -> str:
    if value is None or isinstance(value, bool | list):
        return ""
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else repr(value)
    return neutralise(value)  # an option, in a file a spreadsheet may open


def row(
    q: Questionnaire, response_id: str, answers: Mapping[str, Answer], group_by: str | None = None
) -> list[str]:
    """A response's cells: each item keyed (reverse-keyed ones as min + max − answer); N/A,
    no answer, and a value off the current scale (from another version) empty."""
    cells = [response_id]
    if group_by is not None:
        cells.append(_segment_cell(answers.get(group_by)))
    for k in derived(q, _keying):
        value = answers.get(k.id)
        if isinstance(value, int | float) and not isinstance(value, bool) and value in k.points:
            number = int(value)
            cells.append(str(k.flip - number if k.flip is not None else number))
        else:
            cells.append("")
    return cells


# --- the script -----------------------------------------------------------------------------


def _points(q: Questionnaire, item: LikertItem) -> int:
    return len(q.scales[item.scale].points)


def model_syntax(q: Questionnaire) -> str:
    """lavaan's model: `factor =~ item + item + …` for each factor, 2-item ones explained."""
    lines = []
    for factor in factors(q):
        if factor.name != factor.dimension:
            lines.append(f"  # {factor.name}: the dimension {factor.dimension}")
        if len(factor.items) == 2:
            lines.append(
                f"  # {factor.name} has two items: it is identified only through its "
                "correlations with the other factors"
            )
        lines.append(f"  {factor.name} =~ {' + '.join(i.id for i in factor.items)}")
    return "\n".join(lines)


def _vector(variable: str, names: Sequence[str], width: int = 96) -> str:
    """`variable <- c("a", "b", …)`, over as many lines as it takes."""
    lines, line = [], f"{variable} <- c("
    for n, name in enumerate(names):
        word = r_string(name) + (", " if n < len(names) - 1 else "")
        if len(line) + len(word.rstrip()) > width:
            lines.append(line.rstrip())
            line = "  "
        line += word
    return "\n".join([*lines, line + ")"])


def _rule(title: str) -> str:
    return f"# --- {title} ".ljust(98, "-")


def script(
    q: Questionnaire,
    *,
    version: str,
    generated: date,
    data_file: str,
    group_by: str | None = None,
    selection: Sequence[str] = (),
) -> str:
    """The R script that fits the model to `data_file` (the item file, in the same folder)."""
    chosen = factors(q)
    group = segment_item(q, group_by).id if group_by is not None else None
    modelled = [i for f in chosen for i in f.items]
    ordinal = [i.id for i in modelled if _points(q, i) <= ORDINAL_MAX_POINTS]
    continuous = [i.id for i in modelled if _points(q, i) > ORDINAL_MAX_POINTS]
    left_out = [d.id for d in q.dimensions if d.id not in {f.dimension for f in chosen}]
    # The fit indices to report and compare: from WLSMV's scaled chi-square, MLR's robust.
    suffix = ".scaled" if ordinal else ".robust"
    columns_needed = "items" if group is None else f"c(items, {r_string(group)})"

    parts = [
        _header(q, version, generated, data_file, group, selection),
        "library(lavaan)",
        _rule("1. The data"),
        f'data <- read.csv({r_string(data_file)}, na.strings = "", check.names = FALSE)\n'
        + _vector("items", [i.id for i in modelled])
        + f"\nabsent <- setdiff({columns_needed}, names(data))\n"
        + "if (length(absent) > 0) {\n"
        + f"  stop({r_string(data_file + ' lacks the columns ')}, "
        + 'paste(absent, collapse = ", "),\n'
        + '       ": download it with the filters and group_by of this script")\n}',
    ]
    if ordinal:
        parts.append(_ORDINAL.strip() + "\n" + _vector("ordered_items", ordinal))
    if continuous:
        text = _CONTINUOUS_TOO if ordinal else _CONTINUOUS
        parts.append(text.strip() + "\n" + _vector("continuous_items", continuous))
    parts.append((_FIT_ORDINAL if ordinal else _FIT_CONTINUOUS).strip())
    corrected = [
        f"{m}{suffix}" for m in ("cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper")
    ]
    parts.append(
        f"# The fit measures printed: the {suffix[1:]} ones follow the corrected chi-square and\n"
        "# are those to report.\n"
        'measures <- c("cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr")\n'
        + _vector("corrected", corrected)
    )
    parts.append(_rule("2. The model"))
    if left_out:
        parts.append(f"# Left out, with fewer than two scored items: {', '.join(left_out)}.")
    parts.append(f"model <- '\n{model_syntax(q)}\n'")
    parts += [_rule("3. One group"), _ONE_GROUP.strip()]
    if group is not None:
        parts += [
            _rule(f"4. Measurement invariance across {group}"),
            *_invariance(group, bool(ordinal), bool(continuous), suffix),
        ]
    return "\n\n".join(parts) + "\n"


def _header(
    q: Questionnaire,
    version: str,
    generated: date,
    data_file: str,
    group: str | None,
    selection: Sequence[str],
) -> str:
    lines = [
        f"# Confirmatory factor analysis of the questionnaire {q.slug}, version {version}:",
        f"# {_comment(q.title)}",
        f"# Generated by Connector Survey on {generated.isoformat()}.",
    ]
    if selection:
        lines.append("# Responses " + "; ".join(_comment(s) for s in selection) + ".")
    lines += [
        "#",
        f"# Reads {data_file}, downloaded with the same filters: run this script in the folder",
        "# that holds both (Rscript), or setwd() there first. One row per response:",
        "# response_id, "
        + (f"{group} (the segment that makes the groups), " if group else "")
        + "then each scored likert item.",
        "# Items are KEYED: reverse-keyed items are already reversed (min + max - answer), so",
        "# every loading should come out positive; a negative one points to an item that",
        "# respondents read the other way. N/A, no answer and items not shown are empty cells,",
        "# read as NA.",
        "#",
        "# Steps:",
        "#   1. read the items and say how each is measured (ordinal or continuous);",
        "#   2. the model: each dimension's items load on one factor; the factors correlate;",
        "#   3. one group: the model fitted to every response, its fit, standardized loadings;",
    ]
    if group is not None:
        lines += [
            f"#   4. groups by {group}: the same model in each group, then with loadings, then",
            "#      thresholds or intercepts, then residuals held equal (configural, metric,",
            "#      scalar, strict), each step compared with the one before.",
        ]
    lines.append('# Needs the lavaan package: install.packages("lavaan").')
    return "\n".join(lines)


_ORDINAL = f"""
# Likert items of {ORDINAL_MAX_POINTS} points or fewer are ordinal: their answers are ranks,
# not distances. Treated as continuous, few categories bias loadings down and misstate fit
# (Rhemtulla, Brosseau-Liard & Savalei 2012), so they are declared `ordered` and fitted by
# WLSMV: polychoric correlations and thresholds, and a scaled chi-square. Missing answers
# are taken pairwise.
"""
_CONTINUOUS_TOO = "# Items with more points are continuous."
_CONTINUOUS = f"""
# Every item has more than {ORDINAL_MAX_POINTS} points: they are treated as continuous and
# fitted by MLR (robust to answers that are not normal), with missing answers by FIML.
"""
_FIT_ORDINAL = """
fit_model <- function(data, ...) {
  # The theta parameterization makes the residual variances parameters, so that a strict
  # invariance model can hold them equal across groups.
  cfa(model, data = data, ordered = ordered_items, estimator = "WLSMV",
      parameterization = "theta", missing = "pairwise", ...)
}
"""
_FIT_CONTINUOUS = """
fit_model <- function(data, ...) {
  cfa(model, data = data, estimator = "MLR", missing = "ml", ...)
}
"""
_ONE_GROUP = """
fit <- fit_model(data)
cat("\\n== One group: every response\\n")
print(fitMeasures(fit, c(measures, corrected)))
cat("\\nStandardized loadings\\n")
loadings <- subset(standardizedSolution(fit), op == "=~")
print(loadings[, c("lhs", "rhs", "est.std", "se", "pvalue")], row.names = FALSE)
"""
_GROUPS = f"""
# Groups of fewer than min_group_size responses are dropped: each group's estimates
# (polychorics and thresholds, or covariances) are too unstable in them for the models to
# converge or the comparison to mean much. Responses without a group are dropped too.
min_group_size <- {MIN_GROUP_SIZE}
grouped <- data[!is.na(data[[group]]), ]
grouped[[group]] <- as.character(grouped[[group]])
sizes <- table(grouped[[group]])
cat("\\nGroup sizes\\n")
print(sizes)
small <- names(sizes)[sizes < min_group_size]
if (length(small) > 0) {{
  cat("Dropped, under", min_group_size, "responses:", paste(small, collapse = ", "), "\\n")
  grouped <- grouped[!(grouped[[group]] %in% small), ]
}}
if (length(unique(grouped[[group]])) < 2) {{
  stop("fewer than two groups of ", min_group_size, " responses: nothing to compare")
}}
"""
_SPARSE = """
# WLSMV needs every answer to an ordered item in every group. An answer that no one in some
# group gave is merged into the answer below it (the lowest into the one above) in every
# group alike, so that the thresholds still compare; each merge is printed.
for (item in ordered_items) {
  repeat {
    counts <- table(grouped[[item]], grouped[[group]])
    empty <- which(rowSums(counts == 0) > 0)
    if (length(empty) == 0 || nrow(counts) <= 2) break
    values <- as.numeric(rownames(counts))
    into <- if (empty[1] == 1) 2 else empty[1] - 1
    cat(item, ": answer", values[empty[1]], "merged into", values[into], "\\n")
    grouped[[item]][which(grouped[[item]] == values[empty[1]])] <- values[into]
  }
}
"""
_STEPS = """
steps <- list(configural = configural, metric = metric, scalar = scalar, strict = strict)
for (step in names(steps)) {
  cat("\\n== Groups by", group, "-", step, "\\n")
  print(fitMeasures(steps[[step]], c(measures, corrected)))
}

# Each step against the one before: the scaled chi-square difference test. With hundreds of
# responses it finds differences too small to matter, so the change in fit decides: a step
# holds when CFI falls by no more than .01 and RMSEA rises by no more than .015 (Chen 2007,
# Structural Equation Modeling 14, 464-504). Where a step does not hold, find the items that
# differ (lavTestScore) before comparing the groups on what that step holds equal.
cat("\\nChi-square difference tests\\n")
print(lavTestLRT(configural, metric, scalar, strict))
fits <- t(sapply(steps, fitMeasures, fit.measures = change_in))
colnames(fits) <- c("cfi", "rmsea", "srmr")
delta_cfi <- c(NA, diff(fits[, "cfi"]))
delta_rmsea <- c(NA, diff(fits[, "rmsea"]))
holds <- ifelse(delta_cfi >= -0.01 & delta_rmsea <= 0.015, "yes", "no")
changes <- data.frame(round(fits, 3), delta_cfi = round(delta_cfi, 3),
                      delta_rmsea = round(delta_rmsea, 3), holds = holds)
cat("\\nInvariance: the change in fit at each step (CFI -.01, RMSEA +.015 at most)\\n")
print(changes)
"""


def _invariance(group: str, ordinal: bool, continuous: bool, suffix: str) -> list[str]:
    """Section 4: groups made and checked, the four models, their comparison."""
    means = ["thresholds"] * ordinal + ["intercepts"] * continuous
    scalar = ", ".join(r_string(p) for p in ["loadings", *means])
    strict = ", ".join(r_string(p) for p in ["loadings", *means, "residuals"])
    held = " and ".join(means)
    return [
        f"group <- {r_string(group)}\n" + _GROUPS.strip(),
        *([_SPARSE.strip()] if ordinal else []),
        "# Each step holds more of the model equal across the groups:\n"
        "#   configural  the same factors and items in every group, all else free\n"
        "#   metric      and the loadings: the factors mean the same in every group\n"
        f"#   scalar      and the {held}: the factors' means can be compared\n"
        "#   strict      and the residual variances: observed scores can be compared\n"
        "configural <- fit_model(grouped, group = group)\n"
        'metric <- fit_model(grouped, group = group, group.equal = "loadings")\n'
        f"scalar <- fit_model(grouped, group = group, group.equal = c({scalar}))\n"
        f"strict <- fit_model(grouped, group = group, group.equal = c({strict}))\n"
        f'change_in <- c("cfi{suffix}", "rmsea{suffix}", "srmr")\n' + _STEPS.strip(),
    ]
