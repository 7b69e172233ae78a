"""`asg-parse review`: a local web page where a reviewer corrects parses into gold and ontology additions.

    store.py        the review queue: parses, review states, drafts, the gold file (atomic rewrite, resume)
    draft.py        one report's editable triplets and region marks, and the gold record they make
    uncertainty.py  the score that `--order confidence` sorts by (most uncertain first)
    additions.py    "add this phrase as a form of <finding>": the user ontology directory and the re-parse preview
    app.py          the web routes (FastAPI), templates/ and static/ (plain JS and CSS, served locally)

Only app.py imports the web stack (the optional `[review]` extra); the rest is plain Python and is tested on its
own as well as through the routes.
"""
