"""ASG vision-language pre-training from asg-parse artifacts, images and region boxes.

Data flows through the modules in this order:

    inputs.py      read and validate triplets JSONL (asg_parse.schema), the images manifest, region boxes
    cache.py       the hash-keyed image cache (memory-mapped uint8, boxes rescaled with it)
    tokens.py      reports tokenised once: token ids and region->token masks beside the cache
    prepare.py     everything a run reads, built once (cache, tokenizer, token table, report-level split)
    dataset.py     the dataset over the cache (random / centre crop, boxes moved with it) and the collate
    encoders.py    image and text encoders from transformers (presets tiny / vit-b16 / resnet50)
    pooling.py     RoIAlign-equivalent box pooling with torch ops only
    model.py       the ASG model: encoders, projection heads, box pooling, tag decoder; one embedding path
    losses.py      IRA, ARSA, IRL, ERL (the official objective by default)
    train.py       one loop for CPU and torchrun DDP: train, validate per epoch, best.pt, resume
    checkpoint.py  checkpoints that load with torch.load(weights_only=True)
    config.py      the pydantic training config, resolved and saved with each run
    export.py      encoders exported as transformers folders (safetensors); loaders for probes and zero-shot

Downstream and tools: probe.py (linear probe), zeroshot.py, splits.py (the paper's splits), synth.py (phantoms),
toy.py (tiny inputs for tests). Command line: cli.py (prepare, pretrain, config, export) and eval_cli.py (synth,
probe, zeroshot, splits); usage.py runs them with one-line usage errors. `asg_train` reads `asg_parse` only through
its record schema.
"""
