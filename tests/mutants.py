"""The mutations that once survived the suite, each applied once to this checkout and restored: every one must be
killed by a named test of ``tests/test_instrument.py`` (part of the fast subset).

    python tests/mutants.py [NAME ...]      # prints, per mutation, the tests that killed it (or SURVIVED)
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = [   # (name, file, the code, the mutation)
 ("folds by simulation + method", "src/slamags/embed.py", 'int((ids or {}).get("seed", 0))', 'int((ids or {}).get("seed", 0)) + len(str((ids or {}).get("method", "")))'),
 ("kNN k=1", "src/slamags/evaluation.py", "n_neighbors=min(NEIGHBOURS,", "n_neighbors=min(1,"),
 ("kNN on every cell", "src/slamags/evaluation.py", ".fit(x[fit], classes[fit])", ".fit(x, classes)"),
 ("supervised on bag labels", "src/slamags/pretrain.py", 'if task.target == "cell":', 'if task.target == "cell" and False:'),
 ("its2clr never refreshed", "src/slamags/pseudo.py", "if epoch % self.s.refresh_every == 0 or self.scores is None:", "if self.scores is None:"),
 ("dsmil as ABMIL", "src/slamags/mil.py", "self.model = tm.DSMIL(in_shape=(dim,))", "self.model = tm.ABMIL(in_shape=(dim,))"),
 ("pixel floor max-pooled", "src/slamags/model.py", "adaptive_avg_pool2d", "adaptive_max_pool2d"),
 ("wins off by one", "src/slamags/report/leaderboard.py", "f\" ({r[f'{col}_wins']}/", "f\" ({r[f'{col}_wins'] + 1}/"),
 ("gallery.png last K", "src/slamags/retrieval.py", 'd = ranked[ranked["slide_id"] == slide].sort_values("rank").head(top_k)', 'd = ranked[ranked["slide_id"] == slide].sort_values("rank").tail(top_k)'),
 ("report gallery ascending", "src/slamags/report/figures.py", 'ascending=[False, True]).head(n)', 'ascending=[True, True]).head(n)'),
 ("bags accepts unknown keys", "src/slamags/schema/config.schema.yaml", "  bags:\n    type: object\n    additionalProperties: false\n", "  bags:\n    type: object\n"),
 ("landing without figure", "src/slamags/report/landing.py", "<figure class=\"slamags-headline\"><img alt=\"{Path(image_png).name}\" '", "<figure class=\"slamags-headline\"><!-- {Path(image_png).name} '"),
]


def run(selected: list[str]) -> None:
    for name, path, old, new in MUTANTS:
        if selected and name not in selected:
            continue
        source = (ROOT / path).read_text()
        assert old in source, (name, old)
        (ROOT / path).write_text(source.replace(old, new, 1))
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                str(ROOT / "tests/test_instrument.py")], cwd=ROOT, capture_output=True, text=True)
            failed = [line.split("::")[1].split(" ")[0] for line in r.stdout.splitlines() if line.startswith("FAILED")]
            print(f"{name}: {'KILLED by ' + ', '.join(failed) if failed else 'SURVIVED'}", flush=True)
        finally:
            (ROOT / path).write_text(source)


if __name__ == "__main__":
    run(sys.argv[1:])
