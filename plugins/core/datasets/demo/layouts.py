"""Writers of the demo data sets, each in the exact on-disk layout of the real one, and of a custom folder set (a
user's own crops without camera ids)."""
import json
import os
import os.path as osp

import numpy as np

from .people import Camera, Renderer, captions_for, draw_identities, junk_image, save_image


# ----------------------------------------------------------------------------------------------- data sets
def _cameras(rng, n, infrared=()):
    return {c: Camera(rng, infrared=c in infrared) for c in range(1, n + 1)}


def _pick_cams(rng, cams, low, high):
    k = int(rng.integers(low, high + 1))
    return sorted(int(c) for c in rng.choice(cams, size=min(k, len(cams)), replace=False))


def write_market_like(out, rng, folder_names, name_fn, num_cams, n_train, n_test, max_pid, n_distractor_ids=0,
                      junk=0, ext='.jpg', jitter=4, cams_per_id=(2, 4), imgs_per_cam=(2, 4),
                      train_cams_per_id=(3, 5), train_imgs_per_cam=(4, 6)):
    """Market-style folders: train ids, test ids (1 query per camera, the rest gallery), distractors, junk.

    ``name_fn(pid, cam, k)`` gives the file name (``pid`` may be 0 (distractor) or -1 (junk)).
    """
    pids = sorted(int(p) for p in rng.choice(np.arange(1, max_pid + 1), size=n_train + n_test, replace=False))
    perm = rng.permutation(len(pids))
    train_ids = sorted(pids[i] for i in perm[:n_train])
    test_ids = sorted(pids[i] for i in perm[n_train:])
    identities = dict(zip(train_ids + test_ids, draw_identities(rng, n_train + n_test + n_distractor_ids)))
    renderer = Renderer(identities)
    cameras = _cameras(rng, num_cams)
    cam_list = list(range(1, num_cams + 1))
    train_dir, test_dir, query_dir = (osp.join(out, f) for f in folder_names)
    counter = [0]

    def write(folder, pid, cam, rgb):
        counter[0] += 1
        save_image(osp.join(folder, name_fn(pid, cam, counter[0]) + ext), rgb)

    for pid in train_ids:  # more images per training id than per test id: the demo trains only a few epochs
        for cam in _pick_cams(rng, cam_list, *train_cams_per_id):
            for _ in range(int(rng.integers(train_imgs_per_cam[0], train_imgs_per_cam[1] + 1))):
                write(train_dir, pid, cam, renderer.image(rng, pid, cameras[cam], jitter)[0])
    for pid in test_ids:
        for cam in _pick_cams(rng, cam_list, *cams_per_id):
            for k in range(int(rng.integers(imgs_per_cam[0], imgs_per_cam[1] + 1))):
                write(query_dir if k == 0 else test_dir, pid, cam, renderer.image(rng, pid, cameras[cam], jitter)[0])
    # distractor identities that only appear in the gallery (Duke) with their own ids
    extra = [p for p in range(max_pid + 1, max_pid + 1 + n_distractor_ids)]
    if extra:
        ids = draw_identities(rng, n_distractor_ids)
        renderer.identities.update(zip(extra, ids))
        for pid in extra:
            for cam in _pick_cams(rng, cam_list, 1, 2):
                write(test_dir, pid, cam, renderer.image(rng, pid, cameras[cam], jitter)[0])
    for i in range(junk):  # Market: pid 0 = distractor (kept), pid -1 = junk (ignored)
        cam = int(rng.integers(1, num_cams + 1))
        write(test_dir, 0 if i % 2 == 0 else -1, cam, junk_image(rng, cameras[cam]))


def make_market1501(out, rng):
    def name(pid, cam, k):  # PPPP_cCsS_FFFFFF_BB
        pid_s = '-1' if pid == -1 else f'{pid:04d}'
        return f'{pid_s}_c{cam}s{1 + k % 6}_{(k * 37) % 1000000:06d}_{1 + k % 3:02d}'
    folders = ('bounding_box_train', 'bounding_box_test', 'query')
    write_market_like(osp.join(out, 'Market-1501-v15.09.15'), rng, folders, name, num_cams=6, n_train=30,
                      n_test=30, max_pid=1501, junk=24)


def make_dukemtmc(out, rng):
    def name(pid, cam, k):  # 0005_c2_f0046985
        return f'{pid:04d}_c{cam}_f{(k * 131) % 10000000:07d}'
    write_market_like(osp.join(out, 'DukeMTMC-reID'), rng, ('bounding_box_train', 'bounding_box_test', 'query'),
                      name, num_cams=8, n_train=30, n_test=25, max_pid=7140, n_distractor_ids=5)


def make_cuhk03(out, rng):
    state = rng.bit_generator.state
    for variant, jitter in (('labeled', 3), ('detected', 7)):  # same people; detected crops are sloppier
        rng.bit_generator.state = state

        def name(pid, cam, k):  # 0001_c1_1
            return f'{pid:04d}_c{cam}_{k}'
        write_market_like(osp.join(out, 'cuhk03-np', variant), rng,
                          ('bounding_box_train', 'bounding_box_test', 'query'), name, num_cams=2, n_train=25,
                          n_test=25, max_pid=1467, ext='.png', jitter=jitter, cams_per_id=(2, 2),
                          imgs_per_cam=(3, 5), train_cams_per_id=(2, 2), train_imgs_per_cam=(5, 7))


SYSU_VISIBLE, SYSU_INFRARED = (1, 2, 4, 5), (3, 6)


def make_sysu(out, rng):
    n_ids = 50
    identities = draw_identities(rng, n_ids)
    renderer = Renderer(dict(zip(range(1, n_ids + 1), identities)))
    cameras = _cameras(rng, 6, infrared=SYSU_INFRARED)
    for pid in range(1, n_ids + 1):
        # every id has an indoor (1/2) and an outdoor (4/5) visible camera and at least one infrared camera
        cams = {int(rng.choice((1, 2))), int(rng.choice((4, 5))), int(rng.choice(SYSU_INFRARED))}
        cams |= {c for c in range(1, 7) if rng.random() < 0.4}
        for cam in sorted(cams):
            for k in range(1, int(rng.integers(3, 5)) + 1):
                save_image(osp.join(out, f'cam{cam}', f'{pid:04d}', f'{k:04d}.jpg'),
                           renderer.image(rng, pid, cameras[cam])[0])
    ids = rng.permutation(np.arange(1, n_ids + 1))
    splits = dict(train=ids[:26], val=ids[26:32], test=ids[32:])
    os.makedirs(osp.join(out, 'exp'))
    for split, split_ids in splits.items():
        with open(osp.join(out, 'exp', f'{split}_id.txt'), 'w') as f:
            f.write(','.join(str(int(i)) for i in sorted(split_ids)))


REGDB_TRIALS = 10


def make_regdb(out, rng):
    n_ids, per_modality = 40, 5
    identities = draw_identities(rng, n_ids)
    renderer = Renderer(dict(zip(range(1, n_ids + 1), identities)))
    visible, thermal = Camera(rng), Camera(rng, infrared=True)
    files = {}
    for pid in range(1, n_ids + 1):
        gender = 'female' if identities[pid - 1]['gender'] == 'woman' else 'male'
        files[pid] = {'visible': [], 'thermal': []}
        for modality, folder, tag, cam in (('visible', 'Visible', 'v', visible), ('thermal', 'Thermal', 't', thermal)):
            for _ in range(per_modality):
                img, view = renderer.image(rng, pid, cam)
                num = int(rng.integers(0, 100000))
                rel = f'{folder}/{pid}/{gender}_{view if view != "side" else "front"}_{tag}_{num:05d}_{pid}.bmp'
                save_image(osp.join(out, rel), img)
                files[pid][modality].append(rel)
    os.makedirs(osp.join(out, 'idx'))
    for trial in range(1, REGDB_TRIALS + 1):  # a different random half of the ids is trained on in each trial
        perm = np.random.default_rng(trial).permutation(np.arange(1, n_ids + 1))
        for split, split_ids in (('train', perm[:n_ids // 2]), ('test', perm[n_ids // 2:])):
            for modality in ('visible', 'thermal'):
                lines = [f'{rel} {label}' for label, pid in enumerate(sorted(split_ids))
                         for rel in files[int(pid)][modality]]
                with open(osp.join(out, 'idx', f'{split}_{modality}_{trial}.txt'), 'w') as f:
                    f.write('\n'.join(lines) + '\n')


def _text_records(out, rng, split_sizes, imgs_per_id, captions_per_img, path_fn, first_id):
    """Render images and build JSON records for a text-image set; ``path_fn(pid, k, split)`` -> relative path."""
    n_ids = sum(split_sizes.values())
    identities = draw_identities(rng, n_ids)
    renderer = Renderer(dict(zip(range(n_ids), identities)))
    cameras = _cameras(rng, 4)
    records, pid = [], 0
    for split, n in split_sizes.items():
        for _ in range(n):
            for k in range(imgs_per_id):
                cam = int(rng.integers(1, 5))
                img, view = renderer.image(rng, pid, cameras[cam])
                rel = path_fn(pid + first_id, k, split, cam)
                save_image(osp.join(out, 'imgs', rel), img)
                records.append(dict(split=split, id=pid + first_id, rel=rel,
                                    captions=captions_for(rng, identities[pid], view, captions_per_img)))
            pid += 1
    return records


def _write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)


def make_cuhk_pedes(out, rng):
    sources = ('CUHK01', 'CUHK03', 'Market', 'test_query', 'train_query')

    def path(pid, k, split, cam):
        source = sources[pid % len(sources)]
        return f'{source}/{pid:04d}{k:03d}' + ('.png' if source.startswith('CUHK') else '.jpg')
    records = _text_records(out, rng, dict(train=40, val=8, test=16), 3, 2, path, first_id=1)
    _write_json(osp.join(out, 'reid_raw.json'), [
        dict(split=r['split'], captions=r['captions'], file_path=r['rel'],
             processed_tokens=[c.lower().replace('.', '').replace(',', '').split() for c in r['captions']],
             id=r['id']) for r in records])


def make_icfg_pedes(out, rng):
    def path(pid, k, split, cam):
        return f'{split}/{pid:04d}/{pid:04d}_{cam:03d}_{k + 1:02d}_0303morning_{k:04d}_0.jpg'
    records = _text_records(out, rng, dict(train=40, test=16), 3, 1, path, first_id=1)
    _write_json(osp.join(out, 'ICFG-PEDES.json'), [
        dict(id=r['id'], file_path=r['rel'], captions=r['captions'],
             processed_tokens=[c.lower().replace('.', '').replace(',', '').split() for c in r['captions']],
             split=r['split']) for r in records])


def make_rstpreid(out, rng):
    def path(pid, k, split, cam):
        return f'{pid:04d}_c{cam}_{k * 7 + 3:04d}.jpg'
    records = _text_records(out, rng, dict(train=40, val=8, test=16), 4, 2, path, first_id=0)
    _write_json(osp.join(out, 'data_captions.json'), [
        dict(id=r['id'], img_path=r['rel'], captions=r['captions'], split=r['split']) for r in records])


def make_custom(out, rng, n_train=30, n_test=20, train_per_id=10, query_per_id=2, gallery_per_id=5):
    """A user's own crops (:class:`~plugins.core.datasets.custom.CustomReIDDataset`): ``train/``, ``query/``,
    ``gallery/`` of person folders named by the user (``person_007``), file names that carry no camera id. The
    people are seen by 4 cameras, but nothing on disk says which (query and gallery images may share one)."""
    identities = draw_identities(rng, n_train + n_test)
    renderer = Renderer(dict(enumerate(identities)))
    cameras = _cameras(rng, 4)
    plan = [('train', pid, train_per_id) for pid in range(n_train)]
    plan += [(part, pid, n) for pid in range(n_train, n_train + n_test)
             for part, n in (('query', query_per_id), ('gallery', gallery_per_id))]
    for part, pid, n in plan:
        for k in range(n):
            camera = cameras[int(rng.integers(1, 5))]
            save_image(osp.join(out, part, f'person_{pid:03d}', f'crop_{int(rng.integers(0, 10 ** 6)):06d}_{k}.jpg'),
                       renderer.image(rng, pid, camera)[0])


def make_msmt17(out, rng):
    """MSMT17_V1 as torchreid reads it: ``{train,test}/<pid>/<pid>_<n>_<camera>_<date><time>_<frame>_<k>.jpg``
    and ``list_{train,val,query,gallery}.txt`` ("<pid>/<file> <pid>" lines; test ids restart at 0 as in the real
    lists). Each training id also has one image listed in ``list_val.txt`` (not trained on)."""
    n_train, n_test, n_cams = 20, 20, 15
    identities = draw_identities(rng, n_train + n_test)
    renderer = Renderer(dict(enumerate(identities)))
    cameras = _cameras(rng, n_cams)
    root = osp.join(out, 'MSMT17_V1')
    lists = {name: [] for name in ('train', 'val', 'query', 'gallery')}
    times = ('morning', 'noon', 'afternoon')
    for key in range(n_train + n_test):
        train = key < n_train
        pid = key if train else key - n_train
        for c, cam in enumerate(_pick_cams(rng, list(range(1, n_cams + 1)), 2, 4)):
            for k in range(int(rng.integers(2, 4)) + train):
                name = (f'{pid:04d}/{pid:04d}_{c:03d}_{cam:02d}_03{cam + 5:02d}{times[k % 3]}'
                        f'_{int(rng.integers(0, 10000)):04d}_{k}.jpg')
                save_image(osp.join(root, 'train' if train else 'test', name),
                           renderer.image(rng, key, cameras[cam])[0])
                if train:  # the first image of every training id is a validation image
                    role = 'val' if c == 0 and k == 0 else 'train'
                else:  # the first image of a test id in each camera is a query
                    role = 'query' if k == 0 else 'gallery'
                lists[role].append((name, pid))
    for name, items in lists.items():
        with open(osp.join(root, f'list_{name}.txt'), 'w') as f:
            f.write(''.join(f'{rel} {pid}\n' for rel, pid in items))


LLCM_VISIBLE, LLCM_INFRARED = tuple(range(1, 10)), (1, 2, 4, 5, 6, 7, 8, 9)  # no infrared camera 3 (authors' test)


def make_llcm(out, rng):
    """LLCM as the authors' DEEN code reads it: training images under ``vis/<pid>/`` and ``nir/<pid>/`` listed in
    ``idx/train_{vis,nir}.txt`` ("path label" lines, labels 0..N-1), test images under
    ``test_{vis,nir}/cam<k>/<pid>/`` for the ids of ``idx/test_id.txt`` (one comma-separated line); file names
    ``<pid>_c<cc>_s<clock>_f<frame>_{vis,nir}.jpg``. Each id has 3 cameras, each camera 3 (test: 2) visible
    and (but camera 3) as many infrared images of the same person."""
    n_ids, n_test = 48, 16
    identities = draw_identities(rng, n_ids)
    renderer = Renderer(dict(zip(range(1, n_ids + 1), identities)))
    # as few scene appearances as SYSU-MM01's demo (4 visible, 2 infrared) shared by the 9 camera numbers: with
    # 18 distinct scenes, each seen by a few ids, the demo model learns the scenes and stays near chance
    visible, infrared = [Camera(rng) for _ in range(4)], [Camera(rng, infrared=True) for _ in range(2)]
    cameras = {(cam, ir): infrared[cam % 2] if ir else visible[cam % 4] for cam in LLCM_VISIBLE for ir in (False, True)}
    test_ids = sorted(int(i) for i in rng.choice(np.arange(1, n_ids + 1), size=n_test, replace=False))
    lists = {'train_vis': [], 'train_nir': [], 'test_vis': [], 'test_nir': []}
    train_ids = [pid for pid in range(1, n_ids + 1) if pid not in test_ids]
    for pid in range(1, n_ids + 1):
        test = pid in test_ids
        for cam in _pick_cams(rng, list(LLCM_VISIBLE), 3, 3):
            for tag, ir in (('vis', False), ('nir', True)):
                if ir and cam not in LLCM_INFRARED:
                    continue
                for _ in range(2 if test else 3):
                    name = (f'{pid:04d}_c{cam:02d}_s{int(rng.integers(180000, 220000))}'
                            f'_f{int(rng.integers(0, 10000))}_{tag}.jpg')
                    rel = f'test_{tag}/cam{cam}/{pid:04d}/{name}' if test else f'{tag}/{pid:04d}/{name}'
                    save_image(osp.join(out, rel), renderer.image(rng, pid, cameras[cam, ir])[0])
                    label = test_ids.index(pid) if test else train_ids.index(pid)
                    lists[f'{"test" if test else "train"}_{tag}'].append(f'{rel} {label}')
    os.makedirs(osp.join(out, 'idx'))
    for name, lines in lists.items():
        with open(osp.join(out, 'idx', f'{name}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    with open(osp.join(out, 'idx', 'test_id.txt'), 'w') as f:
        f.write(','.join(str(i) for i in test_ids))


#: demo folder name -> writer. The folder names are also the ``data/<name>`` folders of the real configs.
DATASETS = {
    'market1501': make_market1501, 'dukemtmc-reid': make_dukemtmc, 'cuhk03': make_cuhk03,
    'sysu-mm01': make_sysu, 'regdb': make_regdb, 'cuhk-pedes': make_cuhk_pedes, 'icfg-pedes': make_icfg_pedes,
    'rstpreid': make_rstpreid, 'msmt17': make_msmt17, 'llcm': make_llcm,  # appended: earlier sets keep their streams
    'custom': make_custom}
