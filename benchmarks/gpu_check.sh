#!/usr/bin/env bash
# The whole GPU check of cnnzoo in one command, inside 8 minutes on one GPU; the last
# thing it prints is the table of results against the targets (also in OUT/report.md).
#
#   bash benchmarks/gpu_check.sh [--smoke] [--out DIR]
#
# Runs cnnzoo from this checkout without installing anything (PYTHONPATH=src; the machine needs
# torch, torchvision, timm, pytest, scikit-learn, PyYAML and tqdm) and makes its own data:
#   tests      the `cuda`-marked tests (tests/training/test_cuda.py and any other)
#   synthetic  ResNet-50, 224 px, batch 256, random batches on the GPU, through `cnnzoo train`:
#              bf16+channels_last, fp32, bf16; timm's training step at bf16+channels_last
#   jpeg       ResNet-50 on a generated folder of 5,000 JPEGs (400 px), --decode cpu (loader
#              workers) and --decode gpu (nvJPEG), with the GPU's busy %, and the loader alone
#   others     GoogLeNet, VGG-16, DenseNet-121, MobileNet v2 at bf16+channels_last, each with
#              its timm (torchvision for GoogLeNet) counterpart
#   resume     three `python -m cnnzoo train --deterministic` processes: identical weights
#   compile    ResNet-50 at bf16+channels_last+torch.compile, ours and timm's (last: the slowest)
# Every stage has a time limit and the whole a budget (GPU_CHECK_BUDGET, default 470 s): a stage
# that would start too late is skipped, and each writes its rows as it goes, so the table always
# comes. Targets (one H200, bf16): ResNet-50 >= 3,500 img/s synthetic, >= 1.0x timm, the JPEG
# pipeline >= 80 % of the synthetic rate.
#
# --smoke: the same stages on the CPU with tiny sizes (batch 2, 64 px, a few steps, fp32, no compile),
# to test the script (tests/cli/test_benchmarks.py runs it). Exit status: 0 when every stage ran
# and the tests passed, 1 otherwise (a missed target is a result, not a failure).
set -uo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
OUT_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --out) OUT_DIR=${2:?--out needs a directory}; shift ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: error: unknown argument '$1' (use --smoke, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done

PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || PY=python
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
OUT_DIR=${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/cnnzoo-gpu-check.XXXXXX")}
mkdir -p "$OUT_DIR"
DATA=$(mktemp -d "${TMPDIR:-/tmp}/cnnzoo-gpu-check-data.XXXXXX")
JOBS=()
trap 'for p in "${JOBS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$DATA"' EXIT
BUDGET=${GPU_CHECK_BUDGET:-470}
START=$(date +%s)
FAILED=0
: > "$OUT_DIR/stages.txt"

stage() {  # stage NAME LIMIT_S COMMAND...: at most LIMIT_S s, never past the budget; output in NAME.log
  local name=$1 limit=$2 left rc t0
  shift 2
  left=$(( BUDGET - ($(date +%s) - START) - 15 ))  # 15 s stay for the table
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -lt 10 ]; then
    echo "== $name: skipped (the ${BUDGET} s budget is spent)"
    echo "$name:skipped" >> "$OUT_DIR/stages.txt"
    FAILED=1
    return
  fi
  echo "== $name (at most ${limit} s)"
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT_DIR/$name.log"
  rc=${PIPESTATUS[0]}
  echo "$name:$(( $(date +%s) - t0 ))s:rc=$rc" >> "$OUT_DIR/stages.txt"
  [ "$rc" -eq 0 ] || FAILED=1
}

deadline() {  # deadline SECONDS_FROM_NOW: a time.time() for gpu_train.py's --deadline
  echo $(( $(date +%s) + $1 ))
}

echo "== cnnzoo GPU check $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' + changes'), $(date -u '+%Y-%m-%d %H:%M UTC'), out: $OUT_DIR"
nvidia-smi -L 2>/dev/null || echo "(no nvidia-smi)"
"$PY" -c "import sys, torch, torchvision; print('python', sys.version.split()[0], '| torch', torch.__version__, '| torchvision', torchvision.__version__, '| CUDA', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available')"
df -h /dev/shm 2>/dev/null | tail -1 | awk '{print "/dev/shm: " $2 " (loader workers hand their batches over in it)"}'

# the JPEG folder is written in the background while the tests run (about 30 s on 16 cores)
JPEGS="$DATA/jpegs"
CPUS=$(nproc 2>/dev/null || echo 2)
if [ "$SMOKE" = 1 ]; then
  "$PY" scripts/make_jpeg_folder.py "$JPEGS" --classes 2 --train-per-class 6 --val-per-class 2 \
      --min-size 64 --max-size 80 > "$OUT_DIR/jpegs.log" 2>&1 &
else
  "$PY" scripts/make_jpeg_folder.py "$JPEGS" --classes 10 --train-per-class 500 --val-per-class 10 \
      --min-size 400 --max-size 400 --jobs $(( CPUS > 3 ? CPUS - 2 : 1 )) > "$OUT_DIR/jpegs.log" 2>&1 &
fi
JOBS+=($!)
MAKE_JPEGS=$!

if [ "$SMOKE" = 1 ]; then
  TEST_ARGS=(tests/training/test_cuda.py)
  SIZES=(--smoke)
  SYNTH=(--settings fp32 --reference fp32)  # bf16 convolutions are slow on most CPUs
  JPEG=(--settings fp32 --epochs 3 --workers 1)
  OTHERS=(--settings fp32 --reference -)
  RESUME=(--smoke)
else
  TEST_ARGS=(tests)
  SIZES=(--batch-size 256 --image-size 224 --steps 30 --warmup 10)
  SYNTH=(--settings bf16+cl,fp32,bf16 --reference bf16+cl)
  # 5,000 images are 19 steps of 256 a epoch: the warm-up is most of the first, the timed steps
  # are the steps inside epochs (not across their ends: validation and the workers' restart)
  JPEG=(--settings bf16+cl --epochs 4 --warmup 8)
  OTHERS=(--settings bf16+cl --reference bf16+cl --steps 20 --warmup 8)
  RESUME=()
fi
GPU_TRAIN=("$PY" benchmarks/gpu_train.py)

stage tests 110 "$PY" -m pytest -q -m cuda -o addopts="" -p no:cacheprovider -rs "${TEST_ARGS[@]}"
# before any timing: its processes would take the cores that feed the GPU
echo "== waiting for the JPEG folder"
wait "$MAKE_JPEGS" && cat "$OUT_DIR/jpegs.log" || { echo "the JPEG folder was not made:"; cat "$OUT_DIR/jpegs.log"; FAILED=1; }
stage synthetic 150 "${GPU_TRAIN[@]}" "${SIZES[@]}" --models resnet50 "${SYNTH[@]}" \
    --deadline "$(deadline 120)" --json "$OUT_DIR/synthetic.json"
stage jpeg 100 "${GPU_TRAIN[@]}" "${SIZES[@]}" --models resnet50 --data "$JPEGS" --decode cpu,gpu "${JPEG[@]}" \
    --deadline "$(deadline 70)" --json "$OUT_DIR/jpeg.json"
stage others 90 "${GPU_TRAIN[@]}" "${SIZES[@]}" --models googlenet,vgg16,densenet121,mobilenet_v2 "${OTHERS[@]}" \
    --deadline "$(deadline 70)" --json "$OUT_DIR/others.json"
stage resume 90 "${GPU_TRAIN[@]}" "${RESUME[@]}" --resume-check "$JPEGS" --json "$OUT_DIR/resume.json"
if [ "$SMOKE" = 1 ]; then
  echo "== compile: skipped in --smoke (compiling ResNet-50 takes minutes on a CPU)"
else
  stage compile 170 "${GPU_TRAIN[@]}" "${SIZES[@]}" --models resnet50 --settings bf16+cl+compile \
      --reference bf16+cl+compile --deadline "$(deadline 80)" --json "$OUT_DIR/compile.json"
fi

echo "== done in $(( $(date +%s) - START )) s"
"$PY" benchmarks/gpu_train.py --report "$OUT_DIR" --markdown | tee "$OUT_DIR/report.md"
[ "${PIPESTATUS[0]}" -eq 0 ] || FAILED=1
exit $FAILED
