"""asg_triplets: turn linked, existence-labelled mentions into triplets, the region→sentence map and ASG tags."""
from __future__ import annotations

from collections import defaultdict
from operator import attrgetter
from typing import Any, NamedTuple, Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from .component import OntologyComponent
from .lexicon import boundary_words
from .linking import LINK_MAX_COST, Found, M
from .mentions import stored
from ..schema import TAG_VALUE
from .sections import DEFAULT_SECTION, Layout, spans_layout
from .sentences import set_sentence_starts
from .tokens import SentenceIndex, TokenTable, ext_key, release, sentence_index, tokens

OUTPUTS = ("asg_sentences", "asg_triplets", "asg_region_sentences", "asg_tags")
for _name in OUTPUTS:
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)
# where spaCy keeps `doc._.<name>` of each record field (sentences, triplets, region map, tags, warnings)
OUTPUT_KEYS = tuple(ext_key(name) for name in (*OUTPUTS, "asg_warnings"))

STATE_CLASS = "state"  # the cue class of a finding's state statement (findings.yaml `states`)
Label = tuple[Optional[str], Optional[dict]]  # (existence, cue) of a finding mention
# A finding mention of the parsed sections, as a list read by unpacking in the hot loops:
# [span, finding, sentence (output index), regions, located, existence, cue]. Its region list is shared with the
# link or the defaults, never mutated: `_locate` replaces it (item _REGIONS).
Mention = list
_REGIONS = 3


class Assembled(NamedTuple):
    """The parse of one report, as the record fields (sentences and triplets as dicts, or as `Triplets.rows`)."""

    sentences: list[Any]
    triplets: list[Any]
    region_sentences: dict[str, list[int]]
    tags: dict[str, int]
    warnings: list[str]

    def store(self, doc: Doc) -> None:
        """Set `doc._.asg_sentences`, `asg_triplets`, `asg_region_sentences`, `asg_tags` and `asg_warnings`."""
        doc.user_data.update(zip(OUTPUT_KEYS, self))


_EXISTENCE_RANK = {"present": 2, "uncertain": 1, "absent": 0}  # for a tag: present beats uncertain beats absent
_RANK_TAG = [TAG_VALUE[e] for e in sorted(_EXISTENCE_RANK, key=_EXISTENCE_RANK.__getitem__)]  # rank -> tag value
_COORD = {"and", "or", "/", ",", "and/or", "&"}
_BOTH_SIDES = frozenset({"left", "right"})
_start_end = attrgetter("start", "end")


class _Rank(dict):
    """Item -> its position in an order; items outside the order come last (99)."""

    def __missing__(self, key: str) -> int:
        return 99


def _own_item(lower: list[str], item: int, a_start: int, a_end: int, others: list[M]) -> bool:
    """Whether the place [a_start, a_end) starts the comma-list item that begins at token `item` (no mention of
    `others` before it there) and one of `others` follows it in that item."""
    return not any(item <= g.start < a_start for g in others) \
        and any(g.start >= a_end and "," not in lower[a_end:g.start] for g in others)


def _coordinated(lower: list[str], lo: int, hi: int) -> bool:
    """Whether tokens [lo, hi) are one or two coordinating words ("and", "/", ", and")."""
    if not 0 < hi - lo <= 2:
        return False
    for i in range(lo, hi):
        if lower[i] not in _COORD:
            return False
    return True


def _content_sentences(tt: TokenTable, starts: list[int], layout: Layout, parse_sections: set[str]
                       ) -> tuple[list[tuple[str, int, int, str]], dict[int, int]]:
    """The record's sentences as rows (`SENTENCE_FIELDS`): the content ones (header-only and blank ones dropped), their
    text without surrounding whitespace or a leading list number ("2. ..."), with their section id; and for those of
    `parse_sections`, their number among all sentences -> their index in the record's list."""
    sections = layout.sections
    header_end = {h.start: h.end for h in layout.headers}  # headers do not overlap: one per start
    space, punct, words, idx, text = tt.space, tt.punct, tt.text, tt.idx, tt.doc_text()
    nsec, k = len(sections), 0
    end_of_doc = starts[-1]
    label = sections[0].label if nsec else DEFAULT_SECTION
    next_section = sections[1].start if nsec > 1 else end_of_doc  # where the section after `label` starts
    parse = label in parse_sections
    sentences: list[tuple[str, int, int, str]] = []
    parsed: dict[int, int] = {}
    for raw, (b, e) in enumerate(zip(starts, starts[1:])):
        if header_end.get(b) == e:  # a header-only sentence
            continue
        first = b
        if space[b] or punct[b]:  # else a word opens the sentence
            while first < e and space[first]:
                first += 1
            i = first  # is there a token that is neither space nor punctuation?
            while i < e and (space[i] or punct[i]):
                i += 1
            if i == e:
                continue
        if first + 2 < e and words[first + 1] in (".", ")") and words[first].isdigit():  # list number
            j = first + 2
            while j < e and space[j]:
                j += 1
            if j < e:
                first = j
        last = e - 1
        while space[last]:
            last -= 1
        if b >= next_section:
            while k + 1 < nsec and sections[k + 1].start <= b:
                k += 1
            label = sections[k].label
            next_section = sections[k + 1].start if k + 1 < nsec else end_of_doc
            parse = label in parse_sections
        start, end = idx[first], idx[last] + len(words[last])
        if parse:
            parsed[raw] = len(sentences)
        sentences.append((text[start:end], start, end, label))
    return sentences, parsed


# rows as the record's dicts (keys: SENTENCE_FIELDS, TRIPLET_FIELDS); a dict display per row is about three times
# cheaper than dict(zip(fields, row))
def _sentence_dicts(rows: list[tuple]) -> list[dict[str, Any]]:
    return [{"text": text, "start": start, "end": end, "section": section} for text, start, end, section in rows]


def _triplet_dicts(rows: list[tuple]) -> list[dict[str, Any]]:
    return [{"region": region, "finding": finding, "existence": existence, "sentence": sentence, "start": start,
             "end": end, "text": text, "cue": cue, "cue_class": cue_class}
            for region, finding, existence, sentence, start, end, text, cue, cue_class in rows]


def _cue_fields(cue: Optional[dict]) -> tuple[Optional[str], Optional[str]]:
    """The `cue` and `cue_class` of a triplet from the cue dict of its mention (None: no cue). A cue without a class
    is a state statement of findings.yaml ("heart size is normal"), class `state`."""
    if not cue:
        return None, None
    return cue["text"], cue.get("class", STATE_CLASS)


class Triplets(OntologyComponent):
    """Sets `doc._.asg_sentences`, `doc._.asg_triplets`, `doc._.asg_region_sentences` and `doc._.asg_tags`."""

    # with `rows`, the sentences and triplets stay tuples of their fields (`SENTENCE_FIELDS`, `TRIPLET_FIELDS`)
    # instead of dicts: for the CLI, which writes them as JSON itself (no dicts built only to be read back)
    rows = False

    def _build(self) -> None:
        secs = self.cfg.get("sections")
        self.parse_sections = set(secs) if secs else {s.id for s in self.ontology.sections.values() if s.parse}
        self.asg_tags = set(self.ontology.asg_tags)
        self.boundaries = boundary_words(self.ontology)
        self.interpretation = self.ontology.interpretation_words
        self.interpreted = self.ontology.interpreted_findings
        sides = self.ontology.sides
        self.side_words = {w for phrase in (*sides.left, *sides.right, *sides.both) for w in phrase.lower().split()}
        self.side_of = self.ontology.side_of
        self.laterality = self.ontology.laterality
        self.region_index = _Rank((r, i) for i, r in enumerate(self.ontology.region_order))
        self.silent = {f.id for f in self.ontology.findings.values() if f.silent}
        self.allowed_part = self.ontology.allowed_part  # the regions where a finding may be located
        self.implies = {f.id: (f.implies.finding, {f.implies.finding, *f.implies.unless})
                        for f in self.ontology.findings.values() if f.implies is not None}
        lung = {r.id for r in self.ontology.regions.values() if r.zone == "lung"}
        # default zones that are specific (not whole lungs): a located host gives only its side to these findings
        self.specific_defaults = {f.id: list(f.default_regions) for f in self.ontology.findings.values()
                                  if f.default_regions and not lung & set(f.default_regions)}
        self.defaults = self.ontology.default_regions
        # findings whose defaults are both lungs: a whole-lung word in their name places them there
        self.lung_wide = {f.id for f in self.ontology.findings.values() if f.default_regions
                          and set(f.default_regions) == lung}
        self.whole_lung_words = self.ontology.whole_lung_words
        self.tag_order = list(self.ontology.asg_tags)
        self.tag_index = {t: i for i, t in enumerate(self.tag_order)}

    def _mentions(self, found: Found, labels: Sequence[Label], parsed: dict[int, int], sid: list[int]
                  ) -> tuple[list[Mention], bool]:
        """Finding mentions of the parsed sections with their link and existence (`labels`: one per finding;
        `parsed`: sentence number -> index in the output sentences), and whether all of them are located."""
        out: list[Mention] = []
        links, defaults, implies = found.links, self.defaults, self.implies
        implied, all_located = False, True
        for f, (existence, cue) in zip(found.findings, labels):
            f_start, _, finding = f  # unpacked: cheaper than NamedTuple attributes
            sentence = parsed.get(sid[f_start])
            if sentence is None:
                continue
            link = links.get(f)
            if link is None:
                regions, located = defaults[finding], False
            else:
                regions, forced, located, generic = link  # unpacked: cheaper than four NamedTuple attributes
                if forced is not None:
                    existence, cue = forced["existence"], forced
                if generic and existence == "absent":  # "the lungs are clear without effusion": its defaults
                    regions, located = defaults[finding], False
            out.append([f, finding, sentence, regions, located, existence or "present", cue])
            if not located:
                all_located = False
            if finding in implies:
                implied = True
        if implied:
            more = self._implied(out)
            if more:
                out += more
                all_located = all_located and all(m[4] for m in more)
        return out, all_located

    def _implied(self, mentions: list[Mention]) -> list[Mention]:
        """Mentions that stand for another finding too (`implies` in findings.yaml)."""
        named: dict[int, set[str]] = {}
        for _, finding, sentence, *_rest in mentions:
            named.setdefault(sentence, set()).add(finding)
        out = []
        for m in mentions:
            imp = self.implies.get(m[1])
            if imp is not None and not named[m[2]] & imp[1]:
                out.append([m[0], imp[0], *m[2:]])
        return out

    def _side_only(self, finding: str, regions: Sequence[str]) -> bool:
        """Whether a located mention of `finding` at `regions` sits in its own specific default zones (placed by a
        side word alone)."""
        defaults = self.specific_defaults.get(finding)
        return bool(defaults) and bool(regions) and set(regions) <= set(defaults)

    def _sided_defaults(self, finding: str, regions: Sequence[str], own: bool = False) -> list[str]:
        """`regions` as a location for `finding`: its own default zones on the same sides when the defaults are
        specific (not whole lungs), or with `own` any defaults; else the allowed part of `regions`."""
        defaults = self.defaults[finding] if own else self.specific_defaults.get(finding)
        if defaults:
            side_of = self.side_of
            sides = set(map(side_of.get, regions))
            sided = [r for r in defaults if side_of[r] in sides]
            if sided:
                return sided
        return self.allowed_part(finding, regions)

    def _locate(self, tt: TokenTable, found: Found, mentions: list[Mention], sid: list[int]) -> None:
        """Give mentions without anatomy the location the text implies.

        1. A mention shares the location of the nearest located mention said before it in the same sentence, with
           no clause boundary between and neither absent unless both are (a device takes the location of a later
           device of its clause: "catheter with its tip in the SVC"). An interpretation (`interpretation_words`
           between: "opacification of both lower hemithoraces, which likely reflects layering effusions") lies
           exactly where its host does; otherwise a finding whose defaults are specific zones (effusion:
           costophrenic angles) takes only the host's side ("left lower lobe pneumonia with parapneumonic
           effusion": left costophrenic angle), and a host placed by its side word alone gives only that side
           ("right pleural effusion or pleural thickening": the right lung).
        2. Otherwise a present/uncertain mention takes the nearest anatomy of its clause even when that anatomy
           already locates another finding ("nodule in the right lower lobe suggesting granulomatous disease").
        3. Otherwise a present/uncertain mention takes the location of the same finding said elsewhere in the
           report with the same existence, placed by the text or earlier by these rules (an impression restating a
           finding); not for devices (findings without default regions), where two mentions are usually two objects.
        4. Otherwise a present/uncertain mention whose default regions cover both sides gets no region: asserting
           both lungs would invent a location. Absent mentions keep their defaults ("no pneumothorax": both lungs),
           and so does a mention whose defaults are both lungs and whose own words say it lies in the lungs as a
           whole (`whole_lung_words`: "pulmonary edema", "interstitial edema").
        """
        located = [m for m in mentions if m[4]]
        hosts: dict[int, list[Mention]] = {}  # sentence -> its located mentions, in order
        for m in located:
            same = hosts.get(m[2])
            if same is None:
                hosts[m[2]] = [m]
            else:
                same.append(m)
        placed = list(located)  # located by the text or by the rules below, for restatements
        lower = tt.lower
        laterality = self.laterality
        boundaries = self.boundaries
        interpretation = self.interpretation
        anatomy: Optional[list[tuple[M, list[str]]]] = None  # built for the first mention that needs it
        for m in mentions:
            f, finding, sentence, own_regions, is_located, existence, _ = m
            if is_located:
                continue
            lateral = laterality[finding]
            best = None
            for g, o_finding, _, o_regions, _, o_existence, _ in hosts.get(sentence, ()):
                if o_existence != existence and (o_existence == "absent" or existence == "absent"):
                    continue  # neither absent unless both are
                o_lateral = laterality[o_finding]
                if not lateral and o_lateral:
                    continue  # a device is not where a finding is ("right pneumothorax after chest tube placement")
                devices = not (o_lateral or lateral)
                if g.start <= f.start and f.end <= g.end:
                    continue  # inside a statement's span ("heart size and <finding> are normal"): not its host
                lo, hi = (g.end, f.start) if g.start < f.start else (f.end, g.start)
                coordinated = _coordinated(lower, lo, hi)
                if (g.start > f.start) != devices and not coordinated:
                    continue  # from its host, said before it; a device from a later device ("line with tip in the SVC")
                if not boundaries.isdisjoint(lower[lo:hi]):
                    continue
                # an interpretation lies where its host does; an accompanying finding in its own zone on the host's
                # side ("left lower lobe pneumonia with parapneumonic effusion")
                # (a host placed only by a side word, in its own default zone, gives only that side: "right pleural
                # effusion or pleural thickening" -> the right lung)
                if not interpretation.isdisjoint(lower[lo:hi]):
                    regions = self.allowed_part(finding, o_regions)
                elif self._side_only(o_finding, o_regions):
                    regions = self._sided_defaults(finding, o_regions, own=True)
                else:
                    regions = self._sided_defaults(finding, o_regions)
                cost = 0 if coordinated else hi - lo  # "atelectasis or scar in the lung bases"
                if regions and (best is None or cost < best[0]):
                    best = (cost, regions)
            if best is None and existence != "absent":
                if anatomy is None:
                    regions_of = found.anatomy_regions
                    anatomy = [(a, regions_of.get((a.start, a.end), [])) for a in found.anatomy]
                best = self._nearest_anatomy(lower, m, anatomy, mentions, sid)
                if best is None and sentence - 1 in hosts:
                    best = self._interpreted(lower, sid, m, mentions, hosts[sentence - 1])
                if best is None and self.defaults[finding]:
                    same = [r for o in placed if o[1] == finding and o[5] == existence for r in o[_REGIONS]]
                    if same:
                        best = (0, list(dict.fromkeys(same)))
            if best is not None:
                m[_REGIONS] = best[1]
                placed.append(m)  # an impression may restate it
            elif existence != "absent":
                whole_lungs = finding in self.lung_wide and not self.whole_lung_words.isdisjoint(lower[f.start:f.end])
                if not whole_lungs and _BOTH_SIDES.issubset(map(self.side_of.get, own_regions)):
                    m[_REGIONS] = []  # ("pulmonary edema", "interstitial edema" say where: both lungs)

    def _interpreted(self, lower: list[str], sid: list[int], m: Mention, mentions: list[Mention],
                     before: list[Mention]) -> Optional[tuple[int, list[str]]]:
        """Where the (first) observation of the sentence before lies, when `m`'s sentence only interprets it: no
        side word, every mention there unlocated and uncertain, or the sentence opens with an interpretation word
        ("Patchy opacity in the left lower lobe. Atelectasis versus early pneumonia.")."""
        hosts = [o for o in before if o[1] in self.interpreted]
        if not hosts:
            return None
        own = [o for o in mentions if o[2] == m[2]]
        if any(o[4] or o[5] == "absent" for o in own):
            return None
        first = min(o[0].start for o in own)
        i = first
        while i > 0 and sid[i - 1] == sid[first]:
            i -= 1
        opens = [w for w in lower[i:first] if w.isalpha()]
        if not all(o[5] == "uncertain" for o in own) and not (opens and opens[0] in self.interpretation):
            return None
        j = first
        while j < len(sid) and sid[j] == sid[first]:
            j += 1
        if not self.side_words.isdisjoint(lower[i:j]):
            return None  # a side of its own ("deep sulcus sign on the right, concerning for pneumothorax")
        regions = self.allowed_part(m[1], hosts[0][_REGIONS])
        return (0, regions) if regions else None

    def _nearest_anatomy(self, lower: list[str], m: Mention, anatomy: list[tuple[M, list[str]]],
                         mentions: list[Mention], sid: list[int]) -> Optional[tuple[int, list[str]]]:
        f, finding, sentence = m[0], m[1], m[2]
        best = None
        f_start, f_sent = f.start, sid[f.start]
        lateral = self.laterality[finding]
        others: Optional[list[M]] = None  # the other findings of the sentence, read when first needed
        boundaries = self.boundaries
        for a, regions in anatomy:
            a_start, a_end = a.start, a.end
            if sid[a_start] != f_sent or (a_start < f_start and not lateral):
                continue  # another sentence, or a device's anatomy said before it
            if others is None:
                others = [o[0] for o in mentions if o[0] is not f and o[2] == sentence]
            owned = False
            for g in others:
                if g.start <= a_start and a_end <= g.end or g.start - 1 <= a_end <= g.start:
                    owned = True  # anatomy owned by another finding
                    break
            if owned:
                continue
            lo, hi = (a_end, f_start) if a_start < f_start else (f.end, a_start)
            between = lower[lo:hi]
            if not boundaries.isdisjoint(between):
                continue
            if a_start > f_start and "," in between and _own_item(lower, lo + len(between) - between[::-1].index(","),
                                                                   a_start, a_end, others):
                continue  # a later comma-list item's place, which has its own finding
            cost = (hi - lo) + 3 * between.count(",")
            if cost > LINK_MAX_COST or (best is not None and cost >= best[0]):
                continue
            regions = self.allowed_part(finding, regions)
            if regions:
                best = (cost, regions, a)
        if best is None:
            return None
        regions = list(best[1])
        b = best[2]
        for a, more in anatomy:  # "right middle lobe/lingula": coordinated anatomy goes along
            lo, hi = (b.end, a.start) if b.start < a.start else (a.end, b.start)
            if a is not b and _coordinated(lower, lo, hi):
                regions += [r for r in self.allowed_part(finding, more) if r not in regions]
        return best[0], regions

    def assemble(self, doc: Doc, layout: Layout, found: Found, labels: Sequence[Label],
                 index: Optional[SentenceIndex] = None) -> Assembled:
        """Sentences, triplets, region map and tags of a doc whose sentence starts are set."""
        tt = tokens(doc)
        index = index or sentence_index(doc)
        sid = index.ids
        sentences, parsed = _content_sentences(tt, index.starts, layout, self.parse_sections)
        if not parsed:
            return self._assembled(sentences, [], {}, {}, found.warnings)

        mentions, all_located = self._mentions(found, labels, parsed, sid)
        if not all_located:
            self._locate(tt, found, mentions, sid)
        text, idx, words = tt.doc_text(), tt.idx, tt.text
        triplets: list[tuple] = []  # rows (TRIPLET_FIELDS)
        region_map: defaultdict[str, list[int]] = defaultdict(list)  # region -> its sentences (repeats, any order)
        # (finding, existence, start, end) -> the regions given triplets: no triplet twice
        seen: dict[tuple[str, str, int, int], list[Optional[str]]] = {}
        silent, asg_tags = self.silent, self.asg_tags
        ranks: dict[str, int] = {}  # finding -> the rank of its strongest existence (_EXISTENCE_RANK)
        for f, finding, sent, regions, _, existence, cue in mentions:
            if finding in silent:
                continue
            f_start, f_end, _ = f
            last = f_end - 1
            start, end = idx[f_start], idx[last] + len(words[last])
            key = (finding, existence, start, end)
            done = seen.get(key)
            if done is None and len(regions) <= 1:  # the usual case, without the loop below
                new_regions = seen[key] = [regions[0] if regions else None]
            else:
                if done is None:
                    done = seen[key] = []
                new_regions = []
                for region in regions or (None,):
                    if region not in done:
                        done.append(region)
                        new_regions.append(region)
            if new_regions:
                rest = (finding, existence, sent, start, end, text[start:end], *_cue_fields(cue))
                for region in new_regions:
                    triplets.append((region,) + rest)
                    if region is not None:
                        region_map[region].append(sent)
            if finding in asg_tags:  # the tag of a finding: its strongest existence among its triplets
                rank = _EXISTENCE_RANK[existence]
                if rank > ranks.get(finding, -1):
                    ranks[finding] = rank
        for (a_start, _), regions in found.anatomy_regions.items():
            sent = parsed.get(sid[a_start])
            if sent is not None:
                for region in regions:
                    region_map[region].append(sent)
        region_sentences = {}  # in region order, each sentence once
        for region in sorted(region_map, key=self.region_index.__getitem__):
            sents = region_map[region]
            region_sentences[region] = sents if len(sents) == 1 else sorted(set(sents))
        return self._assembled(sentences, triplets, region_sentences,
                               {t: _RANK_TAG[ranks[t]] for t in sorted(ranks, key=self.tag_index.__getitem__)},
                               found.warnings)

    def _assembled(self, sentences: list[tuple], triplets: list[tuple], region_sentences: dict[str, list[int]],
                   tags: dict[str, int], warnings: list[str]) -> Assembled:
        """The parse from its sentence and triplet rows: kept as rows with `rows`, else as the record's dicts."""
        if not self.rows:
            sentences, triplets = _sentence_dicts(sentences), _triplet_dicts(triplets)
        return Assembled(sentences, triplets, region_sentences, tags, warnings)

    def __call__(self, doc: Doc) -> Doc:
        if not doc.has_annotation("SENT_START"):
            set_sentence_starts(doc)
        found = stored(doc)
        tt = tokens(doc)
        get = doc.user_data.get  # span._.asg_existence(_cue), read where spaCy keeps them
        chars = [tt.char_span(s, e) for s, e, _ in found.findings]
        labels = [(get(ext_key("asg_existence", *c)), get(ext_key("asg_existence_cue", *c))) for c in chars]
        parse = self.assemble(doc, spans_layout(doc), found, labels)
        by = [get(ext_key("asg_existence_by", *c)) for c in chars]
        if any(by):  # `asg_existence_model` ran: each triplet records who decided
            from .existence_model import with_decided_by

            decided = {c: who for c, who in zip(chars, by) if who == "model"}
            parse = parse._replace(triplets=with_decided_by(parse.triplets, decided))
        parse.store(doc)
        release(doc)
        return doc


@Language.factory("asg_triplets", default_config={"ontology": None, "sections": None})
def make_triplets(nlp: Language, name: str, ontology: Optional[str], sections: Optional[list[str]]) -> Triplets:
    """Triplet assembly; `sections` lists the sections that feed triplets (default: those with `parse: true`)."""
    return Triplets(nlp, name, ontology=ontology, sections=sections)
