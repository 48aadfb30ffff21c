//! Reports of bench runs from their JSON (`shout bench --json=FILE`, version 1 or 2): one
//! self-contained HTML page with charts ([`html`], [`charts`]), runs compared ([`compare`]),
//! runs made at the same time merged exactly ([`merge`]). It reads only the JSON document
//! ([`run`]), never the bench's own types: `bench` calls [`html_page`] for `--report`, and
//! this module imports nothing of `bench`.
//!
//! `shout report` exits 0 when it wrote what was asked, 2 on a usage error or an input it
//! cannot read or merge (a file missing, not JSON, not a bench report, past a limit of
//! [`input`] or of [`crate::histcodec`], or a version-1 report or runs that did not overlap
//! given to `--merge`), 1 when an output cannot be written. Whatever a file holds, reading and
//! drawing it takes bounded memory and time.

pub mod axis;
pub mod charts;
pub mod compare;
pub mod digest;
pub mod html;
pub mod input;
pub mod merge;
pub mod run;
pub mod units;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::outcome::Outcome;
pub use input::{LoadError, MAX_REPORT_BYTES};
pub use run::{Purpose, Run};

/// Options of `shout report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// JSON reports written by `shout bench --json=FILE` (the first is the base of the
    /// comparison).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Write the HTML report (charts of every run overlaid, or of the merged run) to this file.
    #[arg(short, long, value_name = "FILE.html")]
    pub output: Option<PathBuf>,

    /// Merge runs made at the same time (several processes or machines) into one: histograms
    /// and counts add, per-second series line up by their start time. Needs version-2 reports.
    #[arg(long)]
    pub merge: bool,

    /// With --merge: write the merged JSON report to this file (`-` for stdout).
    #[arg(long, value_name = "FILE", requires = "merge")]
    pub json: Option<PathBuf>,
}

/// Why `shout report` stopped.
#[derive(Debug)]
enum Failure {
    /// Bad options or input (exit code 2).
    Input(String),
    /// An output could not be written (exit code 1).
    Output(String),
}

/// Renders the JSON report `doc` of one run as an HTML page (its `label` names it, else
/// `name`).
pub fn html_of_json(doc: &Value, name: &str) -> Result<String, LoadError> {
    Ok(html::page(&[Run::from_json_ref(doc, name)?]))
}

/// The HTML page of the JSON report `doc` to be written at `path` (`shout bench --report`), its
/// run named by the file's name unless it has a label.
pub fn html_page(doc: &Value, path: &Path) -> anyhow::Result<String> {
    let name = path
        .file_stem()
        .map_or_else(|| "run".to_owned(), |s| s.to_string_lossy().into_owned());
    Ok(html_of_json(doc, &name)?)
}

/// Runs `shout report`: prints the table of differences (or of the merged run) and writes
/// what was asked; errors are one line on stderr.
pub fn execute(args: &ReportArgs) -> Outcome {
    match report(args) {
        // Labels come from files: shown with their control characters made visible. A closed
        // stdout (`| head`) drops the table quietly, as pipe mode does.
        Ok(table) => match crate::sys::print_stdout(&crate::terminal::visible(table.as_bytes())) {
            Ok(()) => Outcome::Success,
            Err(e) => {
                eprintln!("shout report: cannot write to standard output: {e}");
                Outcome::Failed
            }
        },
        Err(Failure::Input(e)) => {
            eprintln!("shout report: {}", crate::terminal::visible(e.as_bytes()));
            Outcome::UsageOrConnect
        }
        Err(Failure::Output(e)) => {
            eprintln!("shout report: {}", crate::terminal::visible(e.as_bytes()));
            Outcome::Failed
        }
    }
}

/// Runs `f` on a thread and fails the test if it has not returned within 10 s: an endless
/// loop (a tick loop, a reader without a bound) fails a test instead of hanging it.
#[cfg(test)]
pub(crate) fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("returned within 10 s")
}

fn write(path: &Path, text: &str, what: &str) -> Result<(), Failure> {
    std::fs::write(path, text)
        .map_err(|e| Failure::Output(format!("cannot write the {what} {}: {e}", path.display())))
}

/// Does the work of [`execute`]; returns the text for stdout.
fn report(args: &ReportArgs) -> Result<String, Failure> {
    if args.merge && args.json.is_none() && args.output.is_none() {
        return Err(Failure::Input(
            "--merge writes its result with --json=FILE and/or -o FILE.html; give one".into(),
        ));
    }
    // Runs to merge are not drawn: their per-second histograms are decoded by the merge only.
    let purpose = if args.merge {
        Purpose::Merge
    } else {
        Purpose::Draw
    };
    let runs = args
        .files
        .iter()
        .map(|f| Run::load_for(f, purpose).map_err(|e| Failure::Input(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if !args.merge {
        if let Some(out) = &args.output {
            write(out, &html::page(&runs), "HTML report")?;
        }
        return Ok(compare::text(&runs));
    }
    let merged = merge::merge(&runs).map_err(|e| Failure::Input(e.to_string()))?;
    let text = serde_json::to_string_pretty(&merged)
        .map_err(|e| Failure::Output(format!("cannot encode the merged report: {e}")))?
        + "\n";
    let mut stdout = String::new();
    match args.json.as_deref() {
        Some(p) if p == Path::new("-") => stdout.push_str(&text),
        Some(p) => write(p, &text, "merged JSON report")?,
        None => {}
    }
    // The merged run is drawn only for the HTML page; the table needs none of its seconds.
    let purpose = if args.output.is_some() {
        Purpose::Draw
    } else {
        Purpose::Merge
    };
    let run = Run::from_json_for(merged, "merged", purpose)
        .map_err(|e| Failure::Output(format!("the merged report does not read back: {e}")))?;
    if let Some(out) = &args.output {
        write(out, &html::page(std::slice::from_ref(&run)), "HTML report")?;
    }
    if stdout.is_empty() {
        stdout = compare::text(std::slice::from_ref(&run));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histcodec::{encode, ENCODING};
    use serde_json::json;

    /// A version-2 report of `seconds` seconds started at `start`, every second with its two
    /// histograms (the run's schedule lag is null: closed loop).
    fn doc(label: &str, start: f64, seconds: u64) -> Value {
        let mut all = crate::bench::series::new_histogram();
        let series: Vec<Value> = (0..seconds)
            .map(|i| {
                let mut h = crate::bench::series::new_histogram();
                h.record_n(100 + i, 10).expect("in range");
                all.add(&h).expect("same bounds");
                json!({"second": i, "sent": 10, "answered": 10, "measured": 10, "errors": 0,
                       "p50_us": 100 + i, "p99_us": 100 + i, "max_us": 100 + i,
                       "hist": encode(&h), "hist_uncorrected": encode(&h)})
            })
            .collect();
        json!({"schema": 2, "label": label, "started_at_unix_s": start,
               "throughput": {"msgs_per_s": 10.0}, "latency_us": {"count": 10 * seconds},
               "histograms": {"encoding": ENCODING, "latency_us": encode(&all),
                              "latency_uncorrected_us": encode(&all), "schedule_lag_us": null},
               "series": series})
    }

    /// Histograms decoded by `shout report` with these options.
    fn decodes(files: &[PathBuf], merge: bool, json: Option<PathBuf>, html: bool) -> usize {
        let output = html.then(|| files[0].with_extension("html"));
        let args = ReportArgs {
            files: files.to_vec(),
            output,
            merge,
            json,
        };
        let before = crate::histcodec::DECODES.with(|n| n.get());
        assert!(report(&args).is_ok());
        crate::histcodec::DECODES.with(|n| n.get()) - before
    }

    /// Each histogram is decoded once, and only if it is used: a drawn run decodes its
    /// seconds' corrected histograms (the uncorrected ones are never drawn); a merge decodes
    /// each second of each run once (not also to draw runs it does not draw), and its own
    /// seconds again only to draw the merged run.
    #[test]
    fn histograms_are_decoded_once_and_only_when_used() {
        let dir = std::env::temp_dir().join(format!("shout-report-decodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let (runs, seconds) = (2, 5);
        let files: Vec<PathBuf> = (0..runs)
            .map(|r| {
                let path = dir.join(format!("run{r}.json"));
                let text = doc(&format!("run{r}"), 1.7e9, seconds as u64).to_string();
                std::fs::write(&path, text).expect("write a report");
                path
            })
            .collect();
        let merged = Some(dir.join("merged.json"));
        // Each run's two whole-run histograms, then what each way needs of its seconds.
        let whole = 2 * runs;
        assert_eq!(decodes(&files, false, None, true), whole + runs * seconds);
        assert_eq!(
            decodes(&files, true, merged.clone(), false),
            whole + runs * seconds * 2 + 2
        );
        assert_eq!(
            decodes(&files, true, merged, true),
            whole + runs * seconds * 2 + 2 + seconds
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
