"""Training data and training for the learned existence layer (`asg_existence_model`).

    examples.py   LabelledReport (text + gold mentions) and its featurisation through the rule pipeline
    readers.py    input formats: our gold JSONL, OpenI standoff, the NegEx TSV, silver (rule output), detection
    bioscope.py   the BioScope benchmark's documents as training reports, gold under the linguistic reading
    trainer.py    the seeded training loop, dev scores (rules / model / vote), model directories

The component and its architectures live in `asg_parse.pipeline.existence_model` / `existence_encoder`.
"""
