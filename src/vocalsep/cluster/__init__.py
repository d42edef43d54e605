"""Beyond one machine: batch separation on a Ray cluster (``ray_batch``). Training uses ``torchrun``
(``training.distributed``)."""
