#!/usr/bin/env bash
# ResNet-50 on ImageNet on two machines of 8 GPUs, with plain torchrun: run this same script on both.
# MASTER is the address of either machine (its c10d store hosts the rendezvous); the run directory
# must be on a file system both machines see, since rank 0 (on whichever machine) writes it and a
# restarted run continues from the newest checkpoint there.
set -euo pipefail
MASTER=${MASTER:?set MASTER to the address of one of the two machines}
OUT=${OUT:-/shared/runs/resnet50-imagenet}
# a machine may join the running job (--nnodes 1:2) only if rank 0 serves the workers a new store in
# each round: torch 2.14 otherwise never tells the joining agent its address (docs/training.md)
export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1

torchrun --nnodes 1:2 --nproc-per-node 8 --max-restarts 3 --rdzv-backend c10d --rdzv-endpoint "$MASTER:29400" --rdzv-id resnet50-imagenet -m cnnzoo train --config resnet50_imagenet --data ~/data/imagenet --sync-bn --output "$OUT" --save-every-minutes 15 --keep-last 2
