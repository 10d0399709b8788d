"""What a run writes: results.json (one object per engine and mode, with the
keys issue 14 fixes), results.md (the table and the notes that say how each
row was configured) and chart.svg (drawn by hand: no plotting library).
"""

import json
import os

# The keys of every results.json object, in order; None (null) where a
# figure does not apply.
KEYS = ("engine", "mode", "recall", "p50_ms_1t", "p50_ms_2t", "batch_qps", "batch256_qps",
        "ingest_per_s", "open_s", "peak_mib", "blas", "threads", "cpu", "tier")


def results(rows):
    """The machine-readable rows: exactly KEYS, nothing else."""
    return [{key: row.get(key) for key in KEYS} for row in rows]


def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def label(row):
    return f"{row['engine']} {row['mode']}"


def write_table(rows, meta):
    cols = [
        ("engine", "engine"), ("mode", "mode"), ("recall", "recall@k"),
        ("p50_ms_1t", "single p50 ms (1 thread)"),
        ("p50_ms_2t", f"single p50 ms ({meta['threads']} threads)"),
        ("batch_qps", f"batch q/s ({meta['batch']}, {meta['threads']} threads)"),
        ("batch256_qps", f"batch q/s (256, {meta['threads']} threads)"),
        ("ingest_per_s", "ingest vectors/s"), ("open_s", "open s"), ("peak_mib", "peak MiB"),
        ("threads", "threads seen"), ("blas", "BLAS (core type)"),
    ]
    lines = [
        f"{meta['n']:,} x {meta['dim']}, k = {meta['k']}, {meta['nq']} queries "
        f"({meta['singles']} timed one at a time); {meta['cpu']}, {meta['cores']} cores; "
        f"nidus tier {meta['tier']}; {meta['date']}",
        "",
        "| " + " | ".join(title for _, title in cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for row in rows:
        cells = [fmt(row.get(key), 3 if key == "recall" else 1) for key, _ in cols]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "How each row was run:", ""]
    for row in rows:
        if row.get("note"):
            lines.append(f"- {label(row)}: {row['note']}")
    lines += [""] + [f"- {note}" for note in meta["notes"]]
    return "\n".join(lines) + "\n"


def write_chart(rows, meta, path):
    """Two horizontal bar panels; the title names the data, the machine (CPU
    model, cores) and nidus's kernel tier."""
    panels = [("p50_ms_2t", f"single-query p50, {meta['threads']} threads (ms, lower is better)"),
              ("batch_qps", f"batch throughput, {meta['batch']} queries a call, {meta['threads']} threads (q/s, higher is better)")]
    width, bar_h, gap, left = 960, 20, 6, 260
    height = 100 + len(panels) * (40 + len(rows) * (bar_h + gap))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="22" font-size="15" font-weight="bold">Search, {meta["n"]:,} x {meta["dim"]}, k = {meta["k"]}, {meta["nq"]} queries, {meta["date"]}</text>',
           f'<text x="10" y="42">Machine: {escape(meta["cpu"])}, {meta["cores"]} cores. nidus kernel tier: {escape(meta["tier"])}.</text>',
           '<text x="10" y="62" fill="#555">Dark bars: exact (recall@k 1.000). Light bars: approximate, recall@k in the label. '
           'Orange: nidus.</text>']
    y = 82
    for key, title in panels:
        out.append(f'<text x="10" y="{y + 14}" font-weight="bold">{title}</text>')
        y += 26
        values = [r.get(key) for r in rows]
        top = max([v for v in values if v] or [1])
        for row, value in zip(rows, values):
            exact = row.get("recall") is not None and row["recall"] >= 0.9995
            name = label(row) if exact or row.get("recall") is None else f"{label(row)} (recall {row['recall']:.3f})"
            if row["engine"] == "nidus":
                color = "#d9480f" if exact or row.get("recall") is None else "#ffa94d"
            else:
                color = "#5c7cfa" if exact else "#a5b4fc"
            out.append(f'<text x="10" y="{y + 15}">{escape(name)}</text>')
            if value:
                w = (width - left - 90) * value / top
                out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>')
                out.append(f'<text x="{left + w + 6:.1f}" y="{y + 15}">{fmt(value)}</text>')
            else:
                why = "not available in this build" if (row.get("note") or "").startswith("not available") \
                    else "n/a (one thread)" if row.get("threads") == 1 else "n/a"
                out.append(f'<text x="{left + 6}" y="{y + 15}" fill="#888">{why}</text>')
            y += bar_h + gap
        y += 14
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def escape(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_all(rows, meta, details, out_dir):
    """Writes results.json, results.md, chart.svg and details.json (the raw
    threadpoolctl reports and environment checks) into out_dir; returns the table."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results(rows), f, indent=2)
        f.write("\n")
    table = write_table(rows, meta)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(table)
    write_chart(rows, meta, os.path.join(out_dir, "chart.svg"))
    with open(os.path.join(out_dir, "details.json"), "w") as f:
        json.dump({"meta": meta, "children": details}, f, indent=2)
        f.write("\n")
    return table
