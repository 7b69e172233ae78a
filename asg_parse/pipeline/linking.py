"""The linking rules of `asg_mentions`: the regions each finding mention of a doc gets from its anatomy, side words
and state words (`matching.Matcher` finds them)."""
from __future__ import annotations

from functools import partial
from operator import itemgetter
from typing import NamedTuple, Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from anatomy_ontology import Ontology

from .anatomy import SIDE_WINDOW, Anatomy, AnatomyReader, trailing_comparison
from .lexicon import StateRule
from .matching import Context, M, Matcher, new_m, tokens_of
from .memo import Memo
from .phrases import Match
from .placement import Placement
from .tokens import SentenceIndex

STATE_WINDOW = 6     # tokens between a state word ("enlarged") and its anatomy ("heart")
LINK_MAX_COST = 12   # farthest anatomy -> finding link, in tokens (+3 per comma crossed)
_ITEM_REACH = 6      # tokens back from a place to the comma that starts its list item
_start_end = itemgetter(0, 1)  # sort keys of mentions
_subject = itemgetter(3)  # of a (regions, unsided, generic, subject) link part


class Link(NamedTuple):
    """Where a finding mention is: its regions, a forced existence cue (normal statements), and whether the
    regions come from the text (anatomy or a side word) rather than the finding's defaults."""

    regions: list[str]
    forced: Optional[dict]
    located: bool
    # located only by unsided whole-organ words ("the lungs are clear without effusion"): a negated finding keeps
    # its defaults instead (GUIDELINES 4.7)
    generic: bool = False


_new_link = partial(tuple.__new__, Link)  # a Link from a full tuple, without the Python-level Link.__new__


class Found(NamedTuple):
    """What `asg_mentions` finds in a doc: finding mentions (sorted) with their links, anatomy with its regions."""

    findings: list[M]
    anatomy: list[M]
    links: dict[tuple[int, int, str], Link]
    anatomy_regions: dict[tuple[int, int], list[str]]
    warnings: list[str]


_new_found = partial(tuple.__new__, Found)  # as `_new_link`


class Linker:
    """Finds a doc's mentions and links each finding to its regions; built once from the ontology.

    It holds the steps that choose which anatomy, side word or state word goes with which finding (one pass per
    doc over sorted mentions, with the distance rules of each kind); what an anatomy mention names is
    `anatomy.AnatomyReader`'s and how a finding's links become its regions is `placement.Placement`'s. The
    choosing steps stay together because they share the doc's per-mention tables and the used-side set, and
    the hot loops inline `Context.between`."""

    def __init__(self, nlp: Language, ontology: Ontology):
        self.ontology = ontology
        self.matcher = Matcher(nlp, ontology)
        self.lex = self.matcher.lex
        onto = ontology
        self.generic_anatomy = {f"G|{g.id}" for g in onto.groups.values() if g.generic}  # "lung volumes", ...
        self.laterality = onto.laterality
        self.allowed_part = onto.allowed_part  # the regions where a finding may be located
        self.anatomy_reader = AnatomyReader(onto)
        self.extent_words = onto.extent_words
        self.copulas = onto.copulas
        self.level_words, self.level_regions = onto.level_words, onto.level_regions
        self.placement = Placement(onto)
        self.worded_states = {w for w, rules in self.lex.states.items() if any(r.anatomy_words for r in rules)}
        words = onto.measure_words  # a number ("5", "2.5") or a unit, per lower-cased word (digits have no case)
        self.measure_word = Memo(lambda w: w in words or w.replace(".", "", 1).isdigit(), 200_000)
        # finding -> the forms that a side word locates although the finding has no laterality (those with any)
        self.lateral_forms = {f.id: forms for f in onto.findings.values()
                              if (forms := {" ".join(x.lower().split()) for x in f.lateral_forms})}
    # ---------------------------------------------------------------- helpers
    def _level(self, ctx: Context, an: Anatomy, ai: int) -> bool:
        """Whether anatomy `ai` gives a level ("at the level of the clavicular heads"): a `level_words` word + "of"
        (+ "the") before bony anatomy (`level_regions`)."""
        i = an.phrase_start[ai] - 1
        lower = ctx.lower
        if i >= 0 and lower[i] == "the":
            i -= 1
        return i >= 1 and lower[i] == "of" and lower[i - 1] in self.level_words \
            and bool(an.span_regions[ai]) and self.level_regions.issuperset(an.span_regions[ai])

    @staticmethod
    def _starts_item(ctx: Context, a_start: int) -> bool:
        """Whether the words from the last comma before `a_start` hold no finding ("..., left apical
        pleural-parenchymal changes": "pleural" is in the item that "left apical" starts)."""
        lower, in_finding, sent = ctx.lower, ctx.in_finding, ctx.sent
        i = a_start - 1
        while i >= 0 and a_start - i <= _ITEM_REACH and sent[i] == sent[a_start] and i not in in_finding:
            if lower[i] == ",":
                return True
            i -= 1
        return False

    def _item_finding(self, ctx: Context, a_end: int, findings: list[M], candidates: list[int]) -> bool:
        """Whether a finding follows token `a_end` in the same comma-list item (no comma or clause boundary
        between): "..., left apical pleural-parenchymal changes consistent with scarring"."""
        lower, boundaries = ctx.lower, ctx.boundaries
        for fi in candidates:
            f_start = findings[fi][0]
            if f_start >= a_end:
                words = lower[a_end:f_start]
                return "," not in words and boundaries.isdisjoint(words)
        return False

    def _fronted(self, ctx: Context, a_start: int) -> bool:
        """Whether the place phrase at `a_start` opens its sentence after a place preposition ("In the right
        infrahilar region, ...")."""
        i = a_start - 1
        if i >= 0 and ctx.lower[i] == "the":
            i -= 1
        return i >= 0 and ctx.lower[i] in self.ontology.place_prepositions and self._opens_sentence(ctx, i)

    def _at_a_level(self, ctx: Context, an: Anatomy, findings: list[M], links: dict[int, list[str]]) -> None:
        """A device placed only at a level lies where its own name says, and so does its tip: "endotracheal tube
        tip at the level of the clavicular heads" -> trachea."""
        sent = ctx.sent
        levels = [a for ai, a in enumerate(an.spans) if self._level(ctx, an, ai)]
        for fi, f in enumerate(findings):
            if fi in links or self.laterality[f[2]]:
                continue  # (a device: no side word locates it)
            if not any(sent[a[0]] == sent[f[0]] and a[0] >= f[1] for a in levels):
                continue
            for p in ctx.name_places:
                if f[0] <= p[0] and p[1] <= f[1]:
                    links[fi] = list(self.anatomy_reader.anatomy_info[p[2]][3])
                    break
            else:  # its tip: where the device is; else nowhere the level says
                di = self.placement.device_of(ctx, findings, fi)
                links[fi] = list(links[di]) if di is not None and di in links else []
    def _lateral(self, ctx: Context, f: M) -> bool:
        """Whether a side word locates this mention (not for a line's access side, yes for a chest tube's)."""
        if self.laterality[f[2]]:  # (indexing an M is cheaper than its attributes)
            return True
        forms = self.lateral_forms.get(f[2])
        return forms is not None and " ".join(ctx.lower[f[0]:f[1]]) in forms

    # ---------------------------------------------------------------- steps
    def _measure_tokens(self, ctx: Context, lo: int, hi: int) -> int:
        """How many tokens of [lo, hi) belong to measurements (numbers and `measure_words`)."""
        return sum(map(self.measure_word.__getitem__, ctx.lower[lo:hi]))

    @staticmethod
    def _opens_sentence(ctx: Context, start: int) -> bool:
        """Whether token `start` begins its sentence (after an optional "the" and whitespace)."""
        i = start - 1
        while i >= 0 and ctx.sent[i] == ctx.sent[start] and (ctx.tt.space[i] or ctx.lower[i] == "the"):
            i -= 1
        return i < 0 or ctx.sent[i] != ctx.sent[start]

    def _after_preposition(self, ctx: Context, a: M) -> bool:
        """Whether a place preposition (optionally + "the"/"both") comes right before anatomy `a` ("in the lungs")."""
        i = a.start - 1
        if i >= 0 and ctx.lower[i] in ("the", "both"):
            i -= 1
        return i >= 0 and ctx.lower[i] in self.ontology.place_prepositions

    def _finding_sides(self, ctx: Context, findings: list[M], sides: list[M], anatomy: list[M]) -> dict[int, str]:
        """A side word right before a finding ("bilateral pleural effusions", "small left pneumothorax") locates it."""
        finding_side: dict[int, str] = {}
        if not sides:
            return finding_side
        anatomy_tokens: Optional[set[int]] = None
        lower, sent, used = ctx.lower, ctx.sent, ctx.used_sides
        for fi, f in enumerate(findings):
            if not self._lateral(ctx, f):
                continue
            f_start, f_end, _ = f  # unpacked (as the side words below): cheaper than NamedTuple attributes
            for s_ in sides:
                s_start, s_end, s_label = s_
                if s_start in used:
                    continue
                # an adverb right after it too: "airspace opacities bilaterally, most prominent in the lung bases"
                after = s_start == f_end and lower[s_end - 1].endswith("ly")
                if not after:
                    if s_end > f_start or f_start - s_end > SIDE_WINDOW or sent[s_start] != sent[f_start] \
                            or trailing_comparison(lower, s_, f_start):
                        continue
                    if s_end < f_start:
                        if anatomy_tokens is None:
                            anatomy_tokens = tokens_of(anatomy)
                        if not anatomy_tokens.isdisjoint(range(s_end, f_start)) or not ctx.between(s_end, f_start)[0]:
                            continue
                finding_side[fi] = s_label
                used.add(s_start)
                break
        if not finding_side:
            return finding_side
        for ti in range(1, len(findings)):  # a device's part shares its side ("right chest tube tip", "left chest
            di = self.placement.device_of(ctx, findings, ti)  # tube with its tip at the apex")
            if di is not None and di in finding_side and ti not in finding_side:
                finding_side[ti] = finding_side[di]
        for fi in range(len(findings) - 2, -1, -1):  # a finding word right before another shares its side:
            f, head = findings[fi], findings[fi + 1]  # "calcified pleural plaques bilaterally"
            if fi not in finding_side and fi + 1 in finding_side and f.end == head.start and self._lateral(ctx, f):
                finding_side[fi] = finding_side[fi + 1]
        return finding_side

    def _statements(self, ctx: Context, states: list[M], an: Anatomy, findings: list[M], in_finding: set[int]
                    ) -> list[tuple[M, list[str], Optional[dict], int]]:
        """Findings said by a state word about anatomy ("heart is enlarged", "lungs are clear"):
        (mention, regions, forced existence cue or None, index of the anatomy it consumed)."""
        anatomy, out = an.spans, []
        if not states or not anatomy:
            return out
        lower, sent, boundaries, tt = ctx.lower, ctx.sent, ctx.boundaries, ctx.tt
        # a finding right after "<anatomy> and" is a coordinated subject, not a finding between anatomy and state
        subject_and: Optional[dict[int, int]] = None
        coordination = an.coordination
        for w in states:
            # the state word describes its nearest anatomy ("heart size, moderately enlarged and tortuous aorta":
            # the aorta), with no other finding between them ("chest XXXX tip low SVC")
            near = None
            w_start, w_end = w[0], w[1]
            w_sent = sent[w_start]
            for ai, a in enumerate(anatomy):  # in start order, so in sentence order
                a_start, a_end = a[0], a[1]
                a_sent = sent[a_start]
                if a_sent != w_sent:
                    if a_sent > w_sent:
                        break
                    continue
                d = w_start - a_end if w_start > a_end else a_start - w_end if a_start > w_end else 0
                if d > STATE_WINDOW:
                    continue
                lo = a_end if a_end < w_end else w_end
                hi = a_start if a_start > w_start else w_start
                words = lower[lo:hi] if lo <= hi else lower[hi:lo]  # as Context.between
                if not boundaries.isdisjoint(words):
                    continue
                cost = d + 3 * words.count(",") if words else d
                if near is not None and cost >= near[0]:
                    continue
                if lo < hi and not in_finding.isdisjoint(range(lo, hi)):
                    # finding words between them may only be the anatomy's own premodifiers ("tortuous calcified
                    # aorta") or "heart size and <finding> are normal"
                    own = a_start
                    while own > 0 and own - 1 in in_finding:
                        own -= 1
                    if subject_and is None:
                        subject_and = {f.start - 1: f.end for f in findings if f.start and lower[f.start - 1] == "and"}
                    and_end = subject_and.get(a_end)
                    if and_end is not None and not self._opens_sentence(ctx, an.phrase_start[ai]):
                        and_end = None
                    if any(i in in_finding and not own <= i < a_start
                           and (and_end is None or not a_end + 1 <= i < and_end) for i in range(lo, hi)):
                        continue
                near = (cost, ai)
            if w_start >= 2 and lower[w_start - 1] in self.copulas:
                # the subject of its copula, whatever follows: "heart size is normal lungs are clear" (dictation
                # without punctuation) says "normal" of the heart, not of the lungs
                subject = next((ai for ai, a in enumerate(anatomy) if a[1] == w_start - 1), None)
                if subject is not None and (near is None or near[1] != subject):
                    near = (0, subject)
            if near is None:
                continue
            # "heart size and mediastinal contours are normal": coordinated anatomy shares the statement
            coordinated = self.anatomy_reader.coordinated(an, near[1]) if coordination else near[1:]
            cue = None
            rules = self.lex.states[w.label]
            if w.label in self.worded_states:
                rules = self._worded(ctx, an, coordinated, rules)
            for rule in rules:
                for ai in coordinated:
                    if not rule.regions.isdisjoint(an.span_regions[ai]):
                        regions = [r for r in an.span_regions[ai] if r in rule.regions]
                        break
                else:
                    continue
                # a normal statement spans "heart size is normal"; a state word alone carries the finding, so
                # the existence engine sees "not" in "heart is not enlarged" before the mention, where it scopes
                if rule.existence:
                    a = anatomy[ai]
                    span = new_m((a[0] if a[0] < w_start else w_start, a[1] if a[1] > w_end else w_end, rule.finding))
                    if cue is None:
                        start_char = tt.idx[w_start]
                        end_char = tt.idx[w_end - 1] + len(tt.text[w_end - 1])
                        cue = (tt.string[start_char:end_char], start_char, end_char)
                    forced = {"existence": rule.existence, "text": cue[0], "start": cue[1], "end": cue[2]}
                else:
                    span = new_m((w_start, w_end, rule.finding))
                    forced = None
                out.append((span, regions, forced, ai))
        return out

    @staticmethod
    def _worded(ctx: Context, an: Anatomy, coordinated: Sequence[int], rules: list[StateRule]) -> list[StateRule]:
        """The state rules for the anatomy `coordinated`: a rule with `anatomy_words` only when the anatomy holds
        one, and then in place of the rules without for its regions ("the left pulmonary artery is enlarged": a
        dilation, not a hilar lymphadenopathy)."""
        words = {w for ai in coordinated for w in ctx.lower[an.spans[ai][0]:an.spans[ai][1]]}
        worded = [r for r in rules if r.anatomy_words and not r.anatomy_words.isdisjoint(words)]
        taken = frozenset().union(*(r.regions for r in worded))
        return worded + [r for r in rules if not r.anatomy_words and r.regions.isdisjoint(taken)]

    def _best_finding(self, ctx: Context, an: Anatomy, ai: int, findings: list[M], candidates: list[int],
                      finding_side: dict[int, str]) -> Optional[tuple[int, int, list[str]]]:
        """(cost, finding index, regions) of the finding anatomy `ai` locates, if any, of the `candidates` (the
        findings of its sentence)."""
        best = None
        a = an.spans[ai]
        a_start, a_end = an.phrase_start[ai], a[1]
        access_site = a[2] == "Z|lung"  # "right chest port": where a line enters, not where it lies
        a_regions = an.span_regions[ai]
        level = self._level(ctx, an, ai)
        lower, boundaries = ctx.lower, ctx.boundaries
        # a place that starts a comma-list item belongs to that item's finding, not to the item before it
        item_start = self._starts_item(ctx, a_start) and self._item_finding(ctx, a_end, findings, candidates)
        # a fronted place ("In the right infrahilar region, seen only on the lateral view, there is ...") locates
        # the first finding of the clause it opens, across a parenthetical
        fronted = a_end < len(lower) and lower[a_end] == "," and self._fronted(ctx, a_start)
        for fi in candidates:
            f = findings[fi]
            f_start, f_end = f[0], f[1]
            # a prepositional phrase attaches to the finding before it ("tube passes below the diaphragm
            # with the tip ..."); anatomy right before a finding premodifies it ("left basilar opacity")
            if f_start >= a_end:
                lo, hi, gap = a_end, f_start, f_start - a_end
                words = lower[lo:hi]
                cost = gap + 1 if gap else 0
                if fronted:
                    if not boundaries.isdisjoint(words):
                        continue
                    words, cost, fronted = None, 1, False  # (only the first finding after it)
            elif item_start:
                continue
            else:
                lo = a_end if a_end < f_end else f_end
                hi = a_start if a_start > f_start else f_start
                words = lower[lo:hi] if lo <= hi else lower[hi:lo]  # as Context.between
                gap = a_start - f_end if a_start > f_end else 0
                if gap > 2:  # a measurement after a finding is its own ("tip 5 cm above the carina"), not the
                    gap -= self._measure_tokens(ctx, lo, hi)  # next finding's
                cost = gap
            if words:
                if not boundaries.isdisjoint(words):
                    continue
                cost += 3 * words.count(",")
            if cost > LINK_MAX_COST or (cost > 1 and best is not None and cost >= best[0]):
                continue  # (a cost of 0 or 1 may still warn below)
            if access_site and not self._lateral(ctx, f):
                continue
            if level and not self.laterality[f[2]]:
                continue  # a device "at the level of the clavicles" is not in them
            if finding_side and fi in finding_side \
                    and not self.placement.on_side(
                        self.placement.side_part(a_regions, finding_side[fi], an.unsided[ai]), finding_side[fi]):
                continue  # "bilateral effusions with basilar atelectasis"; but "right pneumothorax ... right apex"
            if f_start == a_end + 1 and lower[a_end] == "and" and self._opens_sentence(ctx, a_start):
                continue  # coordinated subjects: "heart size and pulmonary vascular engorgement are normal"
            regions = self.allowed_part(f[2], a_regions)
            if not regions and a_regions:  # (anatomy outside the atlas has no regions: the finding gets none)
                if cost <= 1:
                    ctx.warnings.append(f"'{ctx.tt.span_text(a.start, a.end)}' cannot locate '{f.label}' "
                                        "(not an allowed region); located it by its defaults")
                continue
            if best is None or cost < best[0]:
                best = (cost, fi, regions)
        return best

    def _link(self, ctx: Context, an: Anatomy, findings: list[M], finding_side: dict[int, str], consumed: set[int],
              in_finding: set[int], extents: set[int], loose_keys: dict[int, list[tuple[int, int]]]
              ) -> dict[int, list[tuple[list[str], bool, bool, bool]]]:
        """Finding index -> (regions, unsided, generic, subject) parts from the anatomy that locates it. Also fills
        `extents` (findings whose anatomy follows an `extent_words` word: "effusion tracking up to the apex") and
        `loose_keys` (finding index -> the spans of the unsided zone words that locate it)."""
        anatomy = an.spans
        link_parts: dict[int, list[tuple[list[str], bool, bool, bool]]] = {}
        if not findings or not anatomy:
            return link_parts
        sent, lower = ctx.sent, ctx.lower
        by_sentence: dict[int, list[int]] = {}  # sentence -> its findings
        for fi, f in enumerate(findings):
            k = sent[f[0]]
            if k in by_sentence:
                by_sentence[k].append(fi)
            else:
                by_sentence[k] = [fi]
        coordination = an.coordination
        done: set[int] = set(consumed) if coordination else consumed
        for ai in range(len(anatomy)):
            if ai in done:
                continue
            # coordinated anatomy ("right mid and upper lung zone") locates one finding together
            if coordination:
                group = [j for j in self.anatomy_reader.coordinated(an, ai) if j not in consumed]
                done.update(group)
                best = None
                for j in group:
                    candidates = by_sentence.get(sent[anatomy[j][0]])
                    b = self._best_finding(ctx, an, j, findings, candidates, finding_side) if candidates else None
                    if b is not None and (best is None or b[0] < best[0]):
                        best, best_j = b, j
            else:
                group = (ai,)
                candidates = by_sentence.get(sent[anatomy[ai][0]])
                best = self._best_finding(ctx, an, ai, findings, candidates, finding_side) if candidates else None
                best_j = ai
            if best is None:
                continue
            fi = best[1]
            target = findings[fi]
            b_start = anatomy[best_j][0]
            if b_start > target[1] and not self.extent_words.isdisjoint(lower[target[1]:b_start]):
                extents.add(fi)
            for j in group:
                a = anatomy[j]
                a_start, a_end, a_label = a  # unpacked: cheaper than NamedTuple attributes
                a_regions = an.span_regions[j]
                # the best anatomy's regions for the target are known already
                regions = best[2] if j == best_j else self.allowed_part(target[2], a_regions)
                if not regions and a_regions:
                    continue
                generic = a_label in self.generic_anatomy
                loose = an.unsided[j]
                # the organ as a sentence's subject ("the lungs are clear without effusion"), not a place in it
                subject = (generic or (loose and " ".join(lower[a_start:a_end]) in self.ontology.name_words)) \
                    and not self._after_preposition(ctx, a)
                link_parts.setdefault(fi, []).append((regions, loose, generic, subject))
                if loose:
                    loose_keys.setdefault(fi, []).append((a_start, a_end))
                # every finding word premodifying the anatomy describes it ("tortuous calcified aorta"), and so
                # does the finding it is "of" when it names one itself ("postoperative changes of right upper
                # lobectomy")
                start = an.phrase_start[j]
                of_named = a_start <= target[0] and target[1] <= a_end and start >= 2 and lower[start - 1] == "of"
                own = a_start  # the run of finding words right before it
                while own > 0 and own - 1 in in_finding:
                    own -= 1
                if own == a_start and not of_named:
                    continue  # no finding ends in [own, a.start]: one would end at a.start, making own smaller
                for fj, f in enumerate(findings):
                    if fj != fi and (own <= f.end <= a_start or of_named and f.end == start - 1):
                        more = self.allowed_part(f.label, a_regions)
                        if more:
                            link_parts.setdefault(fj, []).append((more, loose, generic, subject))
        return link_parts

    # ---------------------------------------------------------------- main
    def analyse(self, doc: Doc, index: Optional[SentenceIndex] = None,
                buckets: Optional[list[list[Match]]] = None) -> Found:
        """Match and link the mentions of `doc` (sentence starts must be set; `index`: its sentence index, and
        `buckets`: its lexicon matches as `Matcher.bucketed` gives them, when the caller has them)."""
        ctx = Context(doc, self.lex, index)
        findings, anatomy, sides, states = self.matcher.match(ctx, buckets)
        in_finding = ctx.in_finding
        an = self.anatomy_reader.read(ctx, anatomy, sides)
        finding_side = self._finding_sides(ctx, findings, sides, an.spans) if sides else {}
        statements = self._statements(ctx, states, an, findings, in_finding) if states and an.spans else []
        links: dict[int, list[str]] = {}  # finding index -> its regions from the text
        generic_links: set[int] = set()
        extents: set[int] = set()
        loose_keys: dict[int, list[tuple[int, int]]] = {}
        for fi, parts in self._link(ctx, an, findings, finding_side, {s[3] for s in statements}, in_finding,
                                    extents, loose_keys).items():
            side = finding_side.get(fi) if finding_side else None
            if side in ("left", "right"):  # the finding's own side word also sides its unsided zone words (and
                parts = [(self.placement.side_part(rs, side, loose), loose, generic, subject)  # so in the map)
                         for rs, loose, generic, subject in parts]
                for key in loose_keys.get(fi, ()):
                    an.regions[key] = self.placement.side_part(an.regions[key], side, True)
            links[fi] = self.placement.merge(parts)
            if fi in extents:  # an extent keeps the finding at its own place as well
                links[fi] = self.placement.with_own_place(findings[fi], links[fi], side)
            if all(map(_subject, parts)):
                generic_links.add(fi)
        if finding_side:
            self.placement.device_at_its_tip(ctx, findings, links, finding_side)
        if an.spans and len(links) < len(findings):
            self._at_a_level(ctx, an, findings, links)
        out: dict[tuple[int, int, str], Link] = {}
        for fi, f in enumerate(findings):
            regions = links.get(fi)
            side = finding_side.get(fi) if finding_side else None
            if regions is not None and side != "both":
                located = True
            else:
                place_side = side
                if regions is None and side is None and sides and self._lateral(ctx, f):
                    side_span = self.anatomy_reader.side_for(ctx, f, sides)  # a side word nearby: "effusion on the left"
                    place_side = side_span.label if side_span is not None else None
                regions, located = self.placement.place(f, regions, place_side)
            out[f] = _new_link((regions, None, located, side is None and fi in generic_links))
        if not statements:  # the matcher's findings are in (start, end) order already
            return _new_found((findings, an.spans, out, an.regions, ctx.warnings))
        for span, regions, forced, _ in statements:  # located by their anatomy, with any existence cue
            out[span] = _new_link((regions, forced, True, False))
        return _new_found((sorted(findings + [s[0] for s in statements], key=_start_end), an.spans, out, an.regions,
                           ctx.warnings))
