"""asg_triplets: turn linked, existence-labelled mentions into triplets, the region→sentence map and ASG tags.

The component gathers the finding mentions of the parsed sections with their existence (`_mentions`), has the
`Locator` (locating.py) place those the text left unlocated, and builds the record's rows (`assemble`); the
sentence rows, the rows as dicts and where each field is kept on the doc are in record.py.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from .component import OntologyComponent
from .linking import Found
from .locating import Locator, Mention
from .mentions import stored
from .record import OUTPUT_KEYS, Assembled, content_sentences, cue_fields, sentence_dicts, triplet_dicts
from ..schema import TAG_VALUE
from .sections import Layout, spans_layout
from .sentences import set_sentence_starts
from .tokens import SentenceIndex, ext_key, release, sentence_index, tokens

__all__ = ["OUTPUT_KEYS", "Triplets", "make_triplets"]
Label = tuple[Optional[str], Optional[dict]]  # (existence, cue) of a finding mention
_EXISTENCE_RANK = {"present": 2, "uncertain": 1, "absent": 0}  # for a tag: present beats uncertain beats absent
_RANK_TAG = [TAG_VALUE[e] for e in sorted(_EXISTENCE_RANK, key=_EXISTENCE_RANK.__getitem__)]  # rank -> tag value


class _Rank(dict):
    """Item -> its position in an order; items outside the order come last (99)."""

    def __missing__(self, key: str) -> int:
        return 99


class Triplets(OntologyComponent):
    """Sets `doc._.asg_sentences`, `doc._.asg_triplets`, `doc._.asg_region_sentences` and `doc._.asg_tags`."""

    # with `rows`, the sentences and triplets stay tuples of their fields (`SENTENCE_FIELDS`, `TRIPLET_FIELDS`)
    # instead of dicts: for the CLI, which writes them as JSON itself (no dicts built only to be read back)
    rows = False

    def _build(self) -> None:
        secs = self.cfg.get("sections")
        unknown = [s for s in secs or () if s not in self.ontology.sections]
        if unknown:
            raise ValueError(f"sections: unknown section(s) {', '.join(map(repr, unknown))} (known: "
                             f"{', '.join(self.ontology.sections)})")
        self.parse_sections = set(secs) if secs else {s.id for s in self.ontology.sections.values() if s.parse}
        self.asg_tags = set(self.ontology.asg_tags)
        self.region_index = _Rank((r, i) for i, r in enumerate(self.ontology.region_order))
        self.silent = {f.id for f in self.ontology.findings.values() if f.silent}
        self.implies = {f.id: (f.implies.finding, {f.implies.finding, *f.implies.unless})
                        for f in self.ontology.findings.values() if f.implies is not None}
        self.defaults = self.ontology.default_regions
        self.locator = Locator(self.ontology)
        self.adjacency = self.ontology.adjacency_words
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
                if generic and (existence == "absent" or self.locator.placed_as_absent(cue)):
                    regions, located = defaults[finding], False  # "the lungs are clear without effusion"
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

    def assemble(self, doc: Doc, layout: Layout, found: Found, labels: Sequence[Label],
                 index: Optional[SentenceIndex] = None) -> Assembled:
        """Sentences, triplets, region map and tags of a doc whose sentence starts are set."""
        tt = tokens(doc)
        index = index or sentence_index(doc)
        sid = index.ids
        sentences, parsed = content_sentences(tt, index.starts, layout, self.parse_sections)
        if not parsed:
            return self._assembled(sentences, [], {}, {}, found.warnings)

        mentions, all_located = self._mentions(found, labels, parsed, sid)
        anatomy_regions = found.anatomy_regions
        if self.adjacency and not self.adjacency.isdisjoint(tt.lower):
            unlocated, narrowed = self.locator.adjacent(tt, mentions, sid, anatomy_regions)
            all_located = not unlocated
            if narrowed:
                anatomy_regions = {**anatomy_regions, **narrowed}
        if not all_located:
            self.locator.locate(tt, found, mentions, sid)
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
                rest = (finding, existence, sent, start, end, text[start:end], *cue_fields(cue))
                for region in new_regions:
                    triplets.append((region,) + rest)
                    if region is not None:
                        region_map[region].append(sent)
            if finding in asg_tags:  # the tag of a finding: its strongest existence among its triplets
                rank = _EXISTENCE_RANK[existence]
                if rank > ranks.get(finding, -1):
                    ranks[finding] = rank
        for (a_start, _), regions in anatomy_regions.items():
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
            sentences, triplets = sentence_dicts(sentences), triplet_dicts(triplets)
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
