"""Cluster requests follow the side a stage decodes, not the files' native side."""

from helpers import load_config
from slamags import resources


def test_a_250_px_folder_decoded_at_32_px_asks_for_less_than_at_250():
    native = load_config("study.yaml", dataset={"kind": "tcia", "root": "x", "image_size": 250, "resize": None})
    small = load_config("study.yaml", dataset={"kind": "tcia", "root": "x", "image_size": 250, "resize": 32})
    assert resources.decoded_side(native) == 250 and resources.decoded_side(small) == 32
    assert resources.pretrain_mem_mb(small) < resources.pretrain_mem_mb(native)
    assert resources.embed_mem_mb(small) < resources.embed_mem_mb(native)
    assert resources.pretrain_runtime_min(small) <= resources.pretrain_runtime_min(native)
    # 2,400 train patches at 32 px: 7 MB decoded; the request is the 4 GB floor plus that, not 4.3 GB + 0.7 GB
    assert resources.pretrain_mem_mb(small) == int(4000 + 1.5 * 2400 * 3 * 32 ** 2 / 2 ** 20)
    assert resources.pretrain_mem_mb(small, attempt=2) == 2 * resources.pretrain_mem_mb(small)
    assert "32 px decoded" in resources.summary(small)
