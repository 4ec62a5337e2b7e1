import cv2
import numpy as np
import pytest
from mmengine.dataset import BaseDataset
from mmpretrain.registry import TRANSFORMS

import plugins  # noqa: F401


@pytest.fixture
def files(tmp_path):
    good = tmp_path / 'good.png'
    img = np.zeros((6, 4, 3), np.uint8)
    img[..., 2] = 200  # red in BGR
    cv2.imwrite(str(good), img)
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'\xff\xd8\xff\xe0 this is not a jpeg')
    return dict(good=str(good), corrupt=str(corrupt), missing=str(tmp_path / 'missing.jpg'), img=img)


def test_loads_bgr_uint8(files):
    out = TRANSFORMS.build(dict(type='LoadReIDImage')).transform(dict(img_path=files['good']))
    assert out['img'].dtype == np.uint8 and out['img_shape'] == (6, 4) and out['ori_shape'] == (6, 4)
    assert np.array_equal(out['img'], files['img'])


@pytest.mark.parametrize('key', ['corrupt', 'missing'])
def test_unreadable_file_error_names_the_path(files, key):
    with pytest.raises(OSError, match=files[key].replace('\\', '\\\\')):
        TRANSFORMS.build(dict(type='LoadReIDImage')).transform(dict(img_path=files[key]))


def test_skip_corrupt_warns_with_running_count(files):
    transform = TRANSFORMS.build(dict(type='LoadReIDImage', skip_corrupt=True))
    with pytest.warns(UserWarning, match='corrupt.jpg.*1 unreadable'):
        assert transform(dict(img_path=files['corrupt'])) is None
    with pytest.warns(UserWarning, match='missing.jpg.*2 unreadable'):
        assert transform(dict(img_path=files['missing'])) is None
    assert transform(dict(img_path=files['good']))['img'].shape == (6, 4, 3)


def test_training_dataset_retries_another_sample(files):
    class TwoImages(BaseDataset):
        def load_data_list(self):
            return [dict(img_path=files['corrupt']), dict(img_path=files['good'])]

    load = TRANSFORMS.build(dict(type='LoadReIDImage', skip_corrupt=True))
    dataset = TwoImages(pipeline=[load], serialize_data=False)
    np.random.seed(0)
    with pytest.warns(UserWarning, match='corrupt.jpg'):
        sample = dataset[0]
    assert sample['img_path'] == files['good']
