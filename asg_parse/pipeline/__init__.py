"""The spaCy pipeline: one module per component, and the steps the components share.

Components (each a `@Language.factory`, advertised as a `spacy_factories` entry point), in pipeline order:

    sections.py         asg_sections         section headers -> doc.spans["asg_sections"]
    sentences.py        asg_sentences        sentence starts (punctuation, headers, numbered items, line breaks,
                                             dictated clauses)
    mentions.py         asg_mentions         finding / anatomy phrases and each finding's regions
    existence.py        asg_existence        present / absent / uncertain and the deciding cue, per finding span
    existence_model.py  asg_existence_model  the learned existence layer over the rules (rules | model | vote)
    triplets.py         asg_triplets         <region, finding, existence> triplets, region->sentence map, 40 tags
    parser.py           asg_parser           the same steps as one component, results handed over directly

Shared steps, in the order data flows through them:

    tokenizer.py    the radiology tokenizer (`apex.There`, `1.No`, `x-ray`)
    tokens.py       the per-doc token table and sentence index the steps read instead of Token objects
    phrases.py      phrase matching over lower-cased tokens (PhraseWalk, LowerPhrases)
    lexicon.py      the ontology's finding and anatomy forms compiled for matching
    matching.py     finding / anatomy / side mentions of a doc
    anatomy.py      the regions each anatomy mention names (with the side said with it), coordinated anatomy
    linking.py      linking each finding to its anatomy, side words and state words (the Linker's steps)
    placement.py    combining a finding's links into its regions; defaults, sides, devices at their tips
    cues.py         the existence cues a convention profile reads, and where they are in a doc (CueTable)
    probe.py        one matcher call that rules out a doc without an existence trigger (CueProbe)
    scopes.py       the existence scope rules: which trigger reaches which entity
    locating.py     placing the mentions the text leaves unlocated (Locator, used by asg_triplets)
    record.py       the record's rows: content sentences, rows as dicts, where each field is kept on the doc
    existence_features.py / existence_classifier.py / existence_encoder.py
                    the learned layer's input, its thinc model, its optional pretrained-encoder model

    component.py    the base of the ontology-backed components (ontology option, to_disk / from_disk)
    resources.py    ontology loading and caching, saving a user ontology beside a pipeline
    memo.py         per-process look-up caches
"""
