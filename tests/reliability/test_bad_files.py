"""Bad data files through the verbs that read them: suites (profile), device files (hw list via
$ROOFLINE_HWDB), report specs (report), trace runs (traces show / attribute / calibrate), Nsight Compute CSVs
(import-ncu) and Kineto JSON (import-trace). Each: exit 2 (or the documented 0 for a tolerated field), one
line on stderr, no traceback, nothing written."""

from __future__ import annotations

import gzip
import json
import math

import pytest

from hwdb.loader import DEVICES_DIR
from roofline.measure import traces
from tests.reliability.conftest import GOOD_RUN, case, manifest, run_files, trace_row

# ------------------------------------------------------------------------------------------- suites
OUT = ("--out", "{tmp}/traces", "--energy", "modeled")
K = '[[kernels]]\nname = "copy"\nshapes = "quick"\n'


def suite(id: str, body: str | bytes, msg: str):
    return case(f"suite-{id}", "profile", "--suite", "{tmp}/s.toml", *OUT, msg=msg, files={"s.toml": body})


SUITE_CASES = [
    suite("not-toml", "name = \n", "not valid TOML"),
    suite("not-utf8", b'name = "\xff\xfe"\n' + K.encode(), "not valid TOML"),
    suite("no-kernels", 'name = "x"\n', "at least one [[kernels]]"),
    suite("kernels-not-list", 'kernels = "copy"\n', "at least one [[kernels]]"),
    suite("kernel-no-name", '[[kernels]]\nshapes = "quick"\n', "needs a name"),
    suite("kernel-name-number", '[[kernels]]\nname = 5\n', "needs a name"),
    suite("kernel-name-empty", '[[kernels]]\nname = ""\n', "needs a name"),
    suite("unknown-top-key", 'nmae = "x"\n' + K, "unknown field"),
    suite("unknown-kernel-key", K + 'dtype = ["fp32"]\n', "unknown field"),
    suite("shapes-huge", '[[kernels]]\nname = "copy"\nshapes = "huge"\n', "shapes"),
    suite("shapes-empty-list", '[[kernels]]\nname = "copy"\nshapes = []\n', "empty list"),
    suite("shapes-not-tables", '[[kernels]]\nname = "copy"\nshapes = [1, 2]\n', "table of shape"),
    suite("shapes-empty-table", '[[kernels]]\nname = "copy"\nshapes = [{}]\n', "table of shape"),
    suite("shape-nan", '[[kernels]]\nname = "copy"\nshapes = [{n = nan}]\n', "finite"),
    suite("shape-inf", '[[kernels]]\nname = "copy"\nshapes = [{n = inf}]\n', "finite"),
    suite("shape-array-value", '[[kernels]]\nname = "copy"\nshapes = [{n = [1, 2]}]\n', "number"),
    suite("dtypes-string", K + 'dtypes = "fp32"\n', "list of strings"),
    suite("dtypes-numbers", K + 'dtypes = [32]\n', "string"),
    suite("impls-string", K + 'impls = "ours"\n', "list of strings"),
    suite("window-text", K + '[energy]\nwindow_s = "long"\n', "window_s"),
    suite("window-0", K + '[energy]\nwindow_s = 0\n', "window_s"),
    suite("window-neg", K + '[energy]\nwindow_s = -1.0\n', "window_s"),
    suite("window-nan", K + '[energy]\nwindow_s = nan\n', "window_s"),
    suite("window-inf", K + '[energy]\nwindow_s = inf\n', "window_s"),
    suite("trials-0", K + '[energy]\ntrials = 0\n', "trials"),
    suite("trials-float", K + '[energy]\ntrials = 1.5\n', "integer"),
    suite("trials-bool", K + '[energy]\ntrials = true\n', "integer"),
    suite("energy-unknown-key", K + '[energy]\nwindow = 1.0\n', "unknown field"),
    suite("energy-not-table", 'energy = 5\n' + K, "table"),
    suite("target-0", K + '[timing]\ntarget_s = 0\n', "target_s"),
    suite("target-text", K + '[timing]\ntarget_s = "fast"\n', "target_s"),
    suite("target-huge", K + '[timing]\ntarget_s = 1e9\n', "target_s"),
    suite("name-number", 'name = 5\n' + K, "name"),
    suite("description-list", 'description = []\n' + K, "description"),
    suite("only-unregistered", '[[kernels]]\nname = "not_landed"\n', "nothing to run"),
]

# ------------------------------------------------------------------------------------------- device files
GOOD_DEVICE = (DEVICES_DIR / "t4.toml").read_text()


def device(id: str, text: str | bytes, msg: str, extra: dict | None = None):
    files = {"hwdb/t4.toml": text, **(extra or {})}
    return case(f"device-{id}", "hw", "list", msg=msg, files=files, env={"ROOFLINE_HWDB": "{tmp}/hwdb"})


def swap(old: str, new: str) -> str:
    assert old in GOOD_DEVICE, old
    return GOOD_DEVICE.replace(old, new, 1)


DEVICE_CASES = [
    device("not-utf8", GOOD_DEVICE.encode().replace(b"Turing", b"Tur\xffing", 1), "not UTF-8"),
    device("not-toml", GOOD_DEVICE + "\n[memory\n", "not valid TOML"),
    device("no-id", swap('id = "t4"\n', ""), "id"),
    device("kind-banana", swap('kind = "gpu"', 'kind = "banana"'), "kind"),
    device("no-sources", GOOD_DEVICE.split("[sources.datasheet]")[0] + "\n[memory]\ncapacity_bytes = 1e9\n", "source"),
    device("peak-unknown-dtype", swap("fp32 = { value = 8.1e12", "fp7 = { value = 8.1e12"), "unknown dtype"),
    device("peak-negative", swap("fp32 = { value = 8.1e12", "fp32 = { value = -8.1e12"), "> 0"),
    device("peak-nan", swap("fp32 = { value = 8.1e12", "fp32 = { value = nan"), "number"),
    device("peak-text", swap("fp32 = { value = 8.1e12", 'fp32 = { value = "fast"'), "number"),
    device("peak-no-source", swap('fp32 = { value = 8.1e12, source = "datasheet" }', "fp32 = { value = 8.1e12 }"),
           "source"),
    device("bw-zero", swap("bw_bytes_per_s = 320e9", "bw_bytes_per_s = 0"), "> 0"),
    device("bw-inf", swap("bw_bytes_per_s = 320e9", "bw_bytes_per_s = inf"), "number"),
    device("memory-missing-field", swap("capacity_bytes = 16e9\n", ""), "capacity_bytes"),
    device("unknown-top-field", "colour = \"green\"\n" + GOOD_DEVICE, "unknown"),
    device("unknown-memory-field", swap("type = \"GDDR6\"", "type = \"GDDR6\"\nspeed = 1"), "unknown field"),
    device("source-undeclared", swap('fp32 = { value = 8.1e12, source = "datasheet" }',
                                     'fp32 = { value = 8.1e12, source = "blog" }'), "not in [sources]"),
    device("duplicate-id", GOOD_DEVICE, "duplicate id", extra={"hwdb/t4-copy.toml": GOOD_DEVICE}),
    device("year-text", swap("release_year = 2018", 'release_year = "2018"'), "release_year"),
    case("device-empty-folder", "hw", "list", msg="no device files", files={"hwdb/readme.txt": "x"},
         env={"ROOFLINE_HWDB": "{tmp}/hwdb"}),
    # a $ROOFLINE_HWDB without h100-sxm: the repository's H100 overlay is not read (it used to fail)
    case("device-foreign-hwdb-without-h100", "hw", "list", code=0, files={"hwdb/t4.toml": GOOD_DEVICE},
         env={"ROOFLINE_HWDB": "{tmp}/hwdb"}),
]

# ------------------------------------------------------------------------------------------- report specs
SPEC = ('title = "t"\n[[workload]]\nname = "w"\nmodel = "llama-3.1-8b"\nphase = "decode"\nbatch = 1\n'
        'prompt_tokens = 1024\ngen_tokens = 128\n[devices]\nids = ["h100-sxm"]\n')


def spec(id: str, text: str, msg: str):
    return case(f"spec-{id}", "report", "{tmp}/s.toml", "--format", "html", "--out", "{tmp}/out", msg=msg,
                files={"s.toml": text})


SPEC_CASES = [
    spec("not-toml", "title = \n", "TOML"),
    spec("unknown-top", SPEC + 'colour = "red"\n', "unknown field"),
    spec("device-unknown", SPEC.replace('"h100-sxm"', '"h999"'), "unknown device"),
    spec("model-unknown", SPEC.replace("llama-3.1-8b", "llama-9"), "unknown model"),
    spec("batch-0", SPEC.replace("batch = 1", "batch = 0"), "batch"),
    spec("phase-banana", SPEC.replace('"decode"', '"banana"'), "phase"),
    spec("rank-banana", SPEC + '[ranking]\nby = "banana"\n', "banana"),
    spec("runs-not-list", SPEC + '[traces]\nruns = "r1"\n', "list"),
    case("spec-not-utf8", "report", "{tmp}/s.toml", "--out", "{tmp}/out", msg="s.toml",
         files={"s.toml": b'title = "\xff"\n'}),
]

# ------------------------------------------------------------------------------------------- trace runs
INF, NAN = math.inf, math.nan


def run(id: str, msg: str, verb: str = "show", **kw):
    args = ("traces", "show", GOOD_RUN) if verb == "show" else (verb, "{tmp}/traces/" + GOOD_RUN)
    return case(f"trace-{verb}-{id}", *args, msg=msg, files=run_files(**kw))


def rows(**kw) -> list[dict]:
    return [trace_row(), trace_row(kernel="copy", **kw)]


TRACE_CASES = [
    run("schema-99", "schema version 99", man=manifest(schema_version=99)),
    run("schema-text", "schema_version", man=manifest(schema_version="1")),
    run("schema-missing", "schema_version", man={k: v for k, v in manifest().items() if k != "schema_version"}),
    run("manifest-not-json", "unreadable manifest", manifest_text="{not json"),
    run("manifest-list", "not an object", manifest_text="[1, 2]"),
    run("manifest-rows-text", "rows", man=manifest(rows="three")),
    run("manifest-complete-text", "complete", man=manifest(complete="yes")),
    run("manifest-notes-text", "notes", man=manifest(notes="a note")),
    run("rows-garbage", "unreadable rows", rows_bytes=b"PAR1 this is not parquet"),
    run("rows-empty-bytes", "unreadable rows", rows_bytes=b""),
    run("missing-median", "missing columns", rows=[{k: v for k, v in trace_row().items() if k != "median_s"}]),
    run("missing-kernel", "missing columns", rows=[{k: v for k, v in trace_row().items() if k != "kernel"}]),
    run("median-nan", "median_s", rows=rows(median_s=NAN)),
    run("median-inf", "infinite", rows=rows(median_s=INF)),
    run("median-negative", "negative", rows=rows(median_s=-66.1e-6, p20_s=NAN, p80_s=NAN)),
    run("median-text", "not a number", rows=[trace_row(median_s="fast")]),
    run("p20-above-median", "p20_s", rows=rows(p20_s=2e-4)),
    run("p80-below-median", "p80_s", rows=rows(p80_s=0.5e-4)),
    run("shape-not-json", "shape", rows=rows(shape="m=64")),
    run("shape-json-list", "shape", rows=rows(shape="[64]")),
    run("versions-not-json", "versions", rows=rows(versions="torch 2.11")),
    run("reps-fraction", "integer", rows=rows(reps=1.5)),
    run("flops-negative", "negative", rows=rows(flops=-1.0)),
    run("bytes-inf", "infinite", rows=rows(bytes=INF)),
    run("energy-negative", "negative", rows=rows(energy_j=-0.5)),
    run("power-text", "not a number", rows=[trace_row(power_w="hot")]),
    run("median-negative", "negative", verb="attribute", rows=rows(median_s=-1e-5, p20_s=NAN, p80_s=NAN)),
    run("median-inf", "infinite", verb="calibrate", rows=rows(median_s=INF)),
    run("schema-99", "schema version 99", verb="calibrate", man=manifest(schema_version=99)),
    case("trace-calibrate-all-forced", "calibrate", "{tmp}/traces/" + GOOD_RUN, "--dry-run", msg="--force-device",
         files=run_files(rows=[trace_row(device_forced="cpu: AMD EPYC"),
                              trace_row(kernel="copy", device_forced="cpu: AMD EPYC")])),
    case("trace-calibrate-folder-one-bad", "calibrate", "{tmp}/traces", "--dry-run", msg="schema version 99",
         files={**run_files(), **run_files(man=manifest(schema_version=99), name="broken")}),
    # zero-row runs (decided): shown and attributed as empty tables (exit 0); calibrate refuses them
    case("trace-show-zero-rows", "traces", "show", GOOD_RUN, code=0,
         files=run_files(rows=traces.empty_frame(), man=manifest(rows=0))),
    case("trace-attribute-zero-rows", "attribute", "{tmp}/traces/" + GOOD_RUN, code=0,
         files=run_files(rows=traces.empty_frame(), man=manifest(rows=0))),
    case("trace-calibrate-zero-rows", "calibrate", "{tmp}/traces/" + GOOD_RUN, "--dry-run", msg="no rows",
         files=run_files(rows=traces.empty_frame(), man=manifest(rows=0))),
    # an older trace without a newer optional column (timing_method, device_forced) reads: absent, not corrupt
    case("trace-show-old-columns", "traces", "show", GOOD_RUN, code=0, files=run_files(rows=[trace_row()])),
    case("trace-calibrate-no-usable-rows", "calibrate", "{tmp}/traces/" + GOOD_RUN, "--dry-run",
         msg="no usable rows", files=run_files(rows=[trace_row(flops=NAN, bytes=NAN)])),
]

# ------------------------------------------------------------------------------------------- ncu CSV
HEAD = '"ID","Kernel Name","Grid Size","Block Size","Metric Name","Metric Unit","Metric Value"\n'


def ncu_row(i: int, metric: str, unit: str, value: str, name: str = "gemm") -> str:
    return f'"{i}","{name}","(132, 1, 1)","(384, 1, 1)","{metric}","{unit}","{value}"\n'


GOOD_NCU = HEAD + "".join(ncu_row(i, m, u, v) for i in (0, 1) for m, u, v in (
    ("gpu__time_duration.sum", "ns", "50200"), ("dram__bytes_read.sum", "Mbyte", "135.3"),
    ("dram__bytes_write.sum", "Kbyte", "2,400"), ("lts__t_bytes.sum", "byte", "273000000")))


def ncu(id: str, text: str | bytes, msg: str, *extra: str, name: str = "x.csv", code: int = 2):
    return case(f"ncu-{id}", "import-ncu", "{tmp}/" + name, *extra, msg=msg, code=code, files={name: text})


NCU_CASES = [
    ncu("no-header", "hello,world\n1,2\n", "no header"),
    ncu("only-preamble", "==PROF== Connected to process 1\n==PROF== Disconnected from process 1\n", "no header"),
    ncu("header-only", HEAD, "no kernel launches"),
    ncu("empty-file", "", "no header"),
    ncu("binary", bytes(range(256)) * 4, "NUL"),
    ncu("nul-in-value", GOOD_NCU.replace("50200", "50\x00200", 1), "NUL"),
    ncu("truncated-mid-row", GOOD_NCU[: int(len(GOOD_NCU) * 0.6)], "truncated"),
    ncu("truncated-at-row", "".join(GOOD_NCU.splitlines(keepends=True)[:7]), "lacks"),
    ncu("truncated-quote", GOOD_NCU + '"2","gemm","(132, 1, 1)","(384, 1, 1)","gpu__time', "truncated"),
    ncu("unknown-unit", GOOD_NCU.replace('"ns"', '"furlong"', 1), "unknown unit"),
    ncu("wrong-dimension", GOOD_NCU.replace('"Mbyte"', '"msecond"', 1), "not a byte"),
    ncu("negative", GOOD_NCU.replace('"50200"', '"-50200"', 1), "non-negative"),
    ncu("overflow", GOOD_NCU.replace('"50200"', '"1e400"', 1), "finite"),
    ncu("text-value", GOOD_NCU.replace('"50200"', '"fast"', 1), "not a number"),
    ncu("id-two-kernels", GOOD_NCU + ncu_row(1, "lts__t_bytes.sum", "byte", "1", name="other"), "two kernels"),
    ncu("duplicate-metric", GOOD_NCU + ncu_row(1, "lts__t_bytes.sum", "byte", "5"), "twice"),
    ncu("short-row", GOOD_NCU + '"1","gemm"\n', "fields"),
    ncu("missing-value-column", '"ID","Kernel Name","Metric Name"\n"0","k","gpu__time_duration.sum"\n', "Metric Value"),
    ncu("wide-short-row", '"ID","Kernel Name","gpu__time_duration.sum"\n"","","nsecond"\n"0","k","100"\n"1","k"\n',
        "fields"),
    ncu("wide-duplicate-id", '"ID","Kernel Name","gpu__time_duration.sum"\n"","","nsecond"\n"0","k","100"\n'
                             '"0","k","120"\n', "appears twice"),
    ncu("save-without-duration", HEAD + ncu_row(0, "dram__bytes_read.sum", "byte", "100"), "no duration", "--save"),
    ncu("rep-not-a-report", b"garbage, not a report", "r.ncu-rep", name="r.ncu-rep"),
]

# ------------------------------------------------------------------------------------------- Kineto JSON
KERNEL = {"ph": "X", "cat": "kernel", "name": "gemm", "pid": 0, "tid": 7, "ts": 10.0, "dur": 5.0,
          "args": {"correlation": 1}}


def kineto(id: str, content: str | bytes, msg: str, code: int = 2, name: str = "t.json"):
    return case(f"kineto-{id}", "import-trace", "{tmp}/" + name, msg=msg, code=code, files={name: content})


def events(*evs: dict) -> str:
    return json.dumps({"traceEvents": list(evs)})


GOOD_TRACE = events(KERNEL, {**KERNEL, "ts": 20.0})
KINETO_CASES = [
    kineto("ts-text", events({**KERNEL, "ts": "abc"}), "ts"),
    kineto("dur-null", events({**KERNEL, "dur": None}), "dur"),
    kineto("dur-negative", events({**KERNEL, "dur": -5}), "dur"),
    kineto("dur-missing", events({k: v for k, v in KERNEL.items() if k != "dur"}), "dur"),
    kineto("ts-inf", events(KERNEL).replace('"ts": 10.0', '"ts": 1e999'), "ts"),
    kineto("args-text", events({**KERNEL, "args": "x"}), "", code=0),
    kineto("cpu-op-without-ts", events(KERNEL, {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "dur": 3}), "",
           code=0),
    kineto("dur-numeric-text", events({**KERNEL, "dur": "5"}), "", code=0),
    kineto("nested-100k", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    kineto("corrupt-gzip", gzip.compress(GOOD_TRACE.encode())[:20] + b"\x00garbage" * 8, "gzip", name="t.json.gz"),
    kineto("truncated-gzip", gzip.compress(GOOD_TRACE.encode() * 50)[:-30], "truncated", name="t.json.gz"),
    kineto("not-json", "{nope", "not a JSON"),
    kineto("truncated-json", GOOD_TRACE[: len(GOOD_TRACE) // 2], "not a JSON"),
    kineto("no-trace-events", '{"events": []}', "no traceEvents"),
    kineto("trace-events-object", '{"traceEvents": {}}', "no traceEvents"),
    kineto("only-instants", events({"ph": "i", "name": "x", "ts": 1}), "no GPU kernel or CPU op"),
    kineto("empty-file", "", "not a JSON"),
    kineto("a-number", "42", "no traceEvents"),
    kineto("not-utf8", b'{"traceEvents": [\xff]}', "not a JSON"),
]


@pytest.mark.parametrize("c", SUITE_CASES + DEVICE_CASES + SPEC_CASES + TRACE_CASES + NCU_CASES + KINETO_CASES)
def test_bad_file(c, run_case):
    run_case(c)
