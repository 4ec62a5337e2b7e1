# CUHK-PEDES (data/cuhk-pedes): 11,003 train ids / 68,126 captions; test = 6,156 captions vs 3,074 images.
# Validation runs on the val split (1,000 ids / 6,158 captions), the test loader on the test split: a method config
# keeps the best checkpoint by val (model_selection='val', save_best='R1'; IRRA's code validates on test,
# available as model_selection='test' with a warning).
# 384x128 inputs (IRRA / SSAN), batch 64 drawn at random (IRRA's default sampler; a method config may switch
# to IdentitySampler), flip, pad 10 + random crop, random erasing.
# Captions: text_tokenizer turns 'caption' (and 'weak_caption') into token ids. A method config replaces it by
# redefining the variable AND the pipelines built from it (mmengine configs do not re-evaluate the base), e.g.
#   text_tokenizer = dict(type='WordTokenize', ...)
#   train_pipeline = _base_.train_image_transforms + [text_tokenizer, dict(type='PackReIDInputs')]
#   test_text_pipeline = [text_tokenizer, dict(type='PackReIDInputs')]
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
#   val_dataloader = dict(dataset=dict(text_pipeline=test_text_pipeline))
dataset_type = 'CUHKPEDES'
data_root = 'data/cuhk-pedes'
img_scale = (128, 384)  # (W, H), as mmcv's Resize takes it
text_tokenizer = dict(type='CLIPTokenize', context_length=77)

train_image_transforms = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=img_scale[::-1], padding=10),
    dict(type='RandomErasing', erase_prob=0.5, mode='const', fill_color=(104, 116, 124)),
]
test_image_transforms = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
]
train_pipeline = train_image_transforms + [text_tokenizer, dict(type='PackReIDInputs')]
test_pipeline = test_image_transforms + [dict(type='PackReIDInputs')]  # test images (gallery)
test_text_pipeline = [text_tokenizer, dict(type='PackReIDInputs')]  # test captions (queries)

train_dataloader = dict(
    batch_size=64,  # the total over all processes (ReIDRunner splits it)
    num_workers=4,
    persistent_workers=True,
    # random pairs; each process a contiguous slice of every global batch (the 1-process batch at any N)
    sampler=dict(type='GlobalRandomSampler', shuffle=True, batch_size=64),  # mmengine does not pass it
    collate_fn=dict(type='reid_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='reid_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline,
                 text_pipeline=test_text_pipeline))
test_evaluator = dict(type='ReIDMetric', protocol='text_image')  # every caption queries all test images
# the same loader on the val split (the split key is the only difference)
val_dataloader = dict(test_dataloader, dataset=dict(test_dataloader['dataset'], split='val'))
val_evaluator = test_evaluator
