//! `REPORT.md` and `report.json`: one table per task in the paper's layout, the RSP pretext
//! accuracy, the plots, the wall time of every stage, the machine and the commands. Every
//! number is read from a file a stage wrote; a number a stage did not produce is `null` in the
//! JSON and `—` in the tables, with the reason listed.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde_json::{Map, Value, json};

use super::plan::{Config, Data, Stage, StageKind, percent};
use super::runner::{State, Status};
use super::{Method, TaskName, machine};

/// What the report is written from.
pub struct Context<'a> {
    /// Workspace root (the commands' working directory).
    pub root: &'a Path,
    /// The run's configuration.
    pub cfg: &'a Config,
    /// Every stage of the plan, in order.
    pub stages: &'a [Stage],
    /// What became of them.
    pub state: &'a State,
    /// `machine::describe`.
    pub machine: Value,
    /// Subcommands this build lacks, with their role.
    pub missing: Vec<String>,
}

/// Reads a JSON file (None when absent or unreadable).
fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

/// A finite number at a key path.
fn num(v: Option<&Value>, path: &[&str]) -> Option<f64> {
    let mut cur = v?;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_f64().filter(|x| x.is_finite())
}

/// The first of several key paths that holds a number (stage summaries name things their way).
fn first_num(v: Option<&Value>, paths: &[&[&str]]) -> Option<f64> {
    paths.iter().find_map(|p| num(v, p))
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

fn fmt_s(x: Option<f64>) -> String {
    match x {
        None => "—".into(),
        Some(s) if s < 120.0 => format!("{s:.1} s"),
        Some(s) => format!("{:.1} min", s / 60.0),
    }
}

impl Context<'_> {
    fn abs(&self, p: &Path) -> PathBuf {
        self.root.join(p)
    }

    fn run_abs(&self) -> PathBuf {
        self.abs(&self.cfg.run)
    }

    /// A Markdown link to a file relative to the run folder, when the file exists.
    fn link(&self, text: &str, p: &Path) -> Option<String> {
        let abs = self.abs(p);
        abs.exists().then(|| {
            let rel = abs
                .strip_prefix(self.run_abs())
                .map_or_else(|_| abs.clone(), Path::to_path_buf);
            format!("[{text}]({})", rel.display())
        })
    }

    /// The path relative to the run folder (for report.json), when the file exists.
    fn file(&self, p: &Path) -> Value {
        let abs = self.abs(p);
        if !abs.exists() {
            return Value::Null;
        }
        let rel = abs
            .strip_prefix(self.run_abs())
            .map_or_else(|_| abs.clone(), Path::to_path_buf);
        json!(rel.display().to_string())
    }

    fn status(&self, id: &str) -> Option<Status> {
        self.state.stages.get(id).map(|r| r.status)
    }

    /// Wall time of a stage that ran (not of one that was blocked).
    fn wall(&self, id: &str) -> Option<f64> {
        self.state
            .stages
            .get(id)
            .filter(|r| r.status != Status::Blocked)
            .map(|r| r.wall_s)
    }

    /// The first PNG in a folder whose name contains `needle`.
    fn png(&self, dir: &Path, needle: &str) -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(self.abs(dir))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "png")
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().contains(needle))
            })
            .collect();
        found.sort();
        found.into_iter().next()
    }
}

/// One row of a task table.
struct Row {
    method: Method,
    fraction: f64,
    id: String,
    /// Training summary (`train/summary.json`).
    summary: Option<Value>,
    /// Test metrics (`test/metrics.json`; Camelyon: tile-level metrics on the test slides).
    metrics: Option<Value>,
    /// Camelyon: slide-level metrics and FROC.
    slides: Option<Value>,
    froc: Option<Value>,
}

/// The model-selection metric of a training run: `best_value` of the metric its summary
/// names (`val_acc` or `val_loss`), when it is the one this task's table shows.
fn val_metric(summary: Option<&Value>, task: TaskName) -> (Option<f64>, &'static str) {
    let (want, name) = match task {
        TaskName::Breastpathq => ("val_loss", "Val loss"),
        _ => ("val_acc", "Val acc."),
    };
    let named = summary
        .filter(|s| s["metric"].as_str() == Some(want))
        .and_then(|s| num(Some(s), &["best_value"]));
    (
        named.or_else(|| num(summary, &["last_metrics", want])),
        name,
    )
}

fn epochs(summary: Option<&Value>) -> Option<f64> {
    first_num(summary, &[&["epochs"], &["epochs_run"], &["epoch"]])
}

/// ICC(2,1) (pingouin's `ICC2`) of a pair with its 95 % interval.
fn icc(metrics: Option<&Value>, pair: &str) -> (Option<f64>, Option<f64>, Option<f64>) {
    let base = ["icc", pair, "ICC2"];
    let get = |k: &str| {
        let mut p = base.to_vec();
        p.push(k);
        num(metrics, &p)
    };
    (get("icc"), get("ci95_low"), get("ci95_high"))
}

fn fmt_icc(v: (Option<f64>, Option<f64>, Option<f64>)) -> String {
    match v {
        (Some(i), Some(lo), Some(hi)) => format!("{i:.3} [{lo:.3}, {hi:.3}]"),
        (Some(i), _, _) => format!("{i:.3}"),
        _ => "—".into(),
    }
}

/// The headline test metric of a row (for the comparisons under each table).
fn headline(task: TaskName, r: &Row) -> Option<f64> {
    match task {
        TaskName::Kather => num(r.metrics.as_ref(), &["accuracy"]),
        TaskName::Breastpathq => icc(r.metrics.as_ref(), "prediction_vs_rater_a").0,
        TaskName::Camelyon16 => num(r.metrics.as_ref(), &["auc"]),
    }
}

fn headline_name(task: TaskName) -> &'static str {
    match task {
        TaskName::Kather => "test accuracy",
        TaskName::Breastpathq => "ICC vs rater A",
        TaskName::Camelyon16 => "patch AUC",
    }
}

/// Writes `REPORT.md` and `report.json` into the run folder.
pub fn write(ctx: &Context<'_>) -> Result<()> {
    let cfg = ctx.cfg;
    let mut md = String::new();
    let mut rj = Map::new();
    let synthetic = matches!(cfg.data, Data::Synth { .. });
    let title = match &cfg.data {
        Data::Synth { .. } => format!(
            "histo reproduction — synthetic data, `{}` scale, seed {}",
            cfg.scale.as_str(),
            cfg.seed
        ),
        Data::Real { dataset, dir, .. } => format!(
            "histo reproduction — {} ({}), seed {}",
            dataset.as_str(),
            dir.display(),
            cfg.seed
        ),
    };
    let m = &ctx.machine;
    let machine_line = format!(
        "{} · {} cores · {} GiB · {}",
        m["cpu"].as_str().unwrap_or("unknown CPU"),
        m["cores"],
        m["memory_gib"],
        m["os"].as_str().unwrap_or("")
    );
    let histo = &m["histo"];
    let build_line = format!(
        "histo {} ({} build), device `{}` → {}, {} threads · commit {}{}",
        histo["version"].as_str().unwrap_or("?"),
        if histo["cuda_compiled"].as_bool() == Some(true) {
            "CUDA"
        } else {
            "CPU-only"
        },
        cfg.device,
        histo["device"].as_str().unwrap_or("?"),
        histo["threads"],
        m["git_commit"].as_str().unwrap_or("?"),
        if m["git_dirty"].as_bool() == Some(true) {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    // The data: generated now or reused from the cache.
    let mut data_line = String::new();
    if let Some(s) = ctx.stages.iter().find(|s| s.kind == StageKind::Synth) {
        let rep = read_json(&ctx.abs(&cfg.run.join("data/synth-report.json")));
        let sets = rep
            .as_ref()
            .and_then(|r| r["report"]["datasets"].as_array());
        if let (Some(sets), Data::Synth { dir, .. }) = (sets, &cfg.data) {
            let count = |k: &str| sets.iter().filter_map(|d| d[k].as_u64()).sum::<u64>();
            let (written, skipped) = (count("written"), count("skipped"));
            data_line = format!(
                "\n- Data: `{}` — {}",
                dir.display(),
                if written == 0 {
                    format!(
                        "all {skipped} files reused from the cache (checked in {})",
                        fmt_s(ctx.wall(&s.id))
                    )
                } else {
                    format!(
                        "{written} files generated ({skipped} reused) in {}",
                        fmt_s(ctx.wall(&s.id))
                    )
                }
            );
            rj.insert(
                "data".into(),
                json!({"dir": dir, "files_written": written, "files_reused": skipped}),
            );
        }
    }

    let inv = &ctx.state.invocations;
    let started = inv.first().map_or(0, |i| i.started_unix);
    let pipeline_s: f64 = inv.iter().map(|i| i.pipeline_s).sum();
    let build_s = inv.first().and_then(|i| i.build_s);
    let wall_note = match inv.len() {
        0 | 1 => String::new(),
        n => format!(" over {n} invocations (resumed; stages done earlier were not repeated)"),
    };
    writeln!(md, "# {title}\n")?;
    writeln!(
        md,
        "- Run folder `{}`, started {}\n- Machine: {machine_line}; 1-min load average at the \
         start {} (other work on the machine slows every stage)\n- Build: {build_line}\n- Wall \
         time: **{}** for the pipeline{}{wall_note}; per stage below\n- Labels: {} % · tasks: \
         {}{data_line}",
        cfg.run.display(),
        machine::utc_string(started),
        m["load_average_1min_at_start"].as_str().unwrap_or("?"),
        fmt_s(Some(pipeline_s)),
        build_s.map_or_else(String::new, |b| format!(
            " after a {} build",
            fmt_s(Some(b))
        )),
        cfg.fractions
            .iter()
            .map(|&f| percent(f))
            .collect::<Vec<_>>()
            .join(", "),
        cfg.tasks
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    rj.insert(
        "run".into(),
        json!({
            "title": title,
            "folder": cfg.run,
            "started_utc": machine::utc_string(started),
            "scale": cfg.scale.as_str(),
            "seed": cfg.seed,
            "device": cfg.device,
            "fractions": cfg.fractions,
            "tasks": cfg.tasks.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "build_s": build_s,
            "pipeline_s": pipeline_s,
            "invocations": inv,
            "histo": cfg.histo,
        }),
    );
    rj.insert("machine".into(), ctx.machine.clone());

    // What did not run.
    let not_done: Vec<&Stage> = ctx
        .stages
        .iter()
        .filter(|s| ctx.status(&s.id) != Some(Status::Done))
        .collect();
    if !ctx.missing.is_empty() || !not_done.is_empty() {
        writeln!(
            md,
            "\n> **Incomplete run.** {} of {} stages did not complete; their numbers are shown \
             as — (nothing is filled in).",
            not_done.len(),
            ctx.stages.len()
        )?;
        if !ctx.missing.is_empty() {
            writeln!(
                md,
                "> Missing from this build of histo: {}.",
                ctx.missing.join("; ")
            )?;
        }
    }
    rj.insert("missing_subcommands".into(), json!(ctx.missing));

    writeln!(
        md,
        "\n## How to read this report\n\nEach table has one row per method and label fraction, \
         as in the paper: **Random init** trains the network from scratch on the labelled \
         fraction; **SSL** fine-tunes the RSP-pretrained network on the same labels; **SSL_CR** \
         starts from that SSL model and adds teacher–student consistency training on all \
         training images as unlabelled data. Test metrics are on held-out test sets that no \
         stage trained or selected models on; the validation column is the model-selection \
         metric on the validation split. Under each table, a line counts how often each \
         method beat the other — measured, whatever it says.{}",
        if synthetic {
            " The data are histo-synth's procedural H&E datasets, not the paper's: the numbers \
             show that the pipeline works and how the methods compare here, not what they \
             achieve on real slides."
        } else {
            ""
        }
    )?;

    // RSP pretraining.
    let mut rsp = Map::new();
    writeln!(md, "\n## RSP pretraining (pretext task)\n")?;
    if let Data::Real {
        rsp_checkpoint: Some(p),
        ..
    } = &cfg.data
    {
        writeln!(
            md,
            "Not run: the SSL models start from `{}` (given with --rsp-checkpoint).",
            p.display()
        )?;
        rsp.insert("checkpoint".into(), json!(p));
    } else {
        let dir = cfg.run.join("rsp/pretrain");
        let summary = read_json(&ctx.abs(&dir.join("summary.json")));
        let tiles = read_json(&ctx.abs(&cfg.run.join("rsp/tile-summary.json")));
        let s = summary.as_ref();
        // `best.safetensors` (what SSL starts from) is the epoch of lowest validation loss.
        let acc = first_num(s, &[&["best_val_accuracy"], &["val_accuracy"]]);
        let acc_last = num(s, &["val_accuracy"]);
        let vloss = first_num(s, &[&["best_val_loss"], &["val_loss"]]);
        let best_epoch = num(s, &["best_epoch"]);
        let ep = epochs(s);
        let tps = first_num(s, &[&["triplets_per_s"]]);
        let n_train = first_num(s, &[&["train_triplets"], &["n_train"]]);
        let n_val = first_num(s, &[&["val_triplets"], &["n_val"]]);
        let n_tiles = first_num(
            tiles.as_ref(),
            &[&["triplets"], &["total_triplets"], &["n_triplets"]],
        );
        writeln!(
            md,
            "| Triplets (store) | Train / val triplets | Epochs (best) | **Val accuracy** of \
             the best checkpoint (chance 0.167) | Val accuracy, last epoch | Val loss (best) | \
             Triplets/s | Tiling | Training |\n|---|---|---|---|---|---|---|---|---|"
        )?;
        writeln!(
            md,
            "| {} | {} / {} | {} ({}) | **{}** | {} | {} | {} | {} | {} |",
            fmt(n_tiles, 0),
            fmt(n_train, 0),
            fmt(n_val, 0),
            fmt(ep, 0),
            fmt(best_epoch, 0),
            fmt(acc, 3),
            fmt(acc_last, 3),
            fmt(vloss, 3),
            fmt(tps, 0),
            fmt_s(ctx.wall("tile")),
            fmt_s(ctx.wall("pretrain")),
        )?;
        let links: Vec<String> = [
            ctx.link("training curves", &dir.join("curves.png")),
            ctx.png(&dir, "embedding")
                .and_then(|p| ctx.link("validation embedding", &p)),
            ctx.link("summary", &dir.join("summary.json")),
            ctx.link("log", &cfg.run.join("logs/pretrain.log")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !links.is_empty() {
            writeln!(md, "\n{}", links.join(" · "))?;
        }
        if let Some(a) = acc {
            writeln!(
                md,
                "\nRSP validation accuracy {a:.3}: {} the ≥ 0.90 target of the default (`small`) run.",
                if a >= 0.90 { "meets" } else { "is below" }
            )?;
        }
        rsp.insert("val_accuracy".into(), json!(acc));
        rsp.insert("val_accuracy_last_epoch".into(), json!(acc_last));
        rsp.insert("best_epoch".into(), json!(best_epoch));
        rsp.insert("val_loss".into(), json!(vloss));
        rsp.insert("epochs".into(), json!(ep));
        rsp.insert("triplets_per_s".into(), json!(tps));
        rsp.insert("store_triplets".into(), json!(n_tiles));
        rsp.insert("train_triplets".into(), json!(n_train));
        rsp.insert("val_triplets".into(), json!(n_val));
        rsp.insert("summary".into(), summary.unwrap_or(Value::Null));
        rsp.insert("curves".into(), ctx.file(&dir.join("curves.png")));
    }
    rj.insert("rsp".into(), Value::Object(rsp));

    // One table per task.
    let mut tasks_json = Map::new();
    let mut all_rows = Vec::new();
    for &task in &cfg.tasks {
        let rows: Vec<Row> = cfg
            .fractions
            .iter()
            .flat_map(|&f| Method::ALL.map(|m| (f, m)))
            .map(|(fraction, method)| {
                let train = cfg.train_dir(task, fraction, method);
                let test = cfg.test_dir(task, fraction, method);
                let sl = cfg.slides_dir(fraction, method).join("eval");
                let camelyon = task == TaskName::Camelyon16;
                Row {
                    method,
                    fraction,
                    id: super::plan::stage_id(task, fraction, method),
                    summary: read_json(&ctx.abs(&train.join("summary.json"))),
                    metrics: if camelyon {
                        read_json(&ctx.abs(&sl.join("tiles-metrics.json")))
                    } else {
                        read_json(&ctx.abs(&test.join("metrics.json")))
                    },
                    slides: camelyon
                        .then(|| read_json(&ctx.abs(&sl.join("slides-metrics.json"))))
                        .flatten(),
                    froc: camelyon
                        .then(|| read_json(&ctx.abs(&sl.join("froc.json"))))
                        .flatten(),
                }
            })
            .collect();
        tasks_json.insert(task.as_str().into(), task_json(ctx, task, &rows));
        all_rows.push((task, rows));
    }
    write_glance(ctx, &mut md, &all_rows)?;
    for (task, rows) in &all_rows {
        write_task(ctx, &mut md, *task, rows)?;
    }
    rj.insert("tasks".into(), Value::Object(tasks_json));

    // Stage wall times.
    writeln!(
        md,
        "\n## Stages\n\n| Stage | Status | Wall time | Load (1 min) at end |\n|---|---|---|---|"
    )?;
    let mut stages_json = vec![];
    for s in ctx.stages {
        let rec = ctx.state.stages.get(&s.id);
        let status = match rec {
            None => "not run".to_string(),
            Some(r) => match r.status {
                Status::Done if r.reused => "done (earlier invocation)".into(),
                Status::Done if r.resumed > 0 => format!(
                    "done (resumed {}×; time of interrupted attempts not counted)",
                    r.resumed
                ),
                Status::Done => "done".into(),
                Status::Started => "interrupted".into(),
                Status::Failed => format!("**failed**: {}", r.reason.clone().unwrap_or_default()),
                Status::Blocked => format!("not run: {}", r.reason.clone().unwrap_or_default()),
            },
        };
        let log = ctx
            .link(
                "log",
                &cfg.run.join(format!("logs/{}.log", s.id.replace('/', "_"))),
            )
            .map_or_else(String::new, |l| format!(" ({l})"));
        writeln!(
            md,
            "| {}{log} | {} | {} | {} |",
            s.label,
            status.replace('|', "\\|").replace('\n', " "),
            fmt_s(
                rec.filter(|r| r.status != Status::Blocked)
                    .map(|r| r.wall_s)
            ),
            fmt(rec.and_then(|r| r.load_average), 2)
        )?;
        stages_json.push(json!({
            "id": s.id,
            "label": s.label,
            "status": rec.map(|r| r.status),
            "reused": rec.is_some_and(|r| r.reused),
            "reason": rec.and_then(|r| r.reason.clone()),
            "wall_s": rec.map(|r| r.wall_s),
            "command_wall_s": rec.map(|r| r.command_wall_s.clone()),
            "load_average_at_end": rec.and_then(|r| r.load_average),
            "commands": s.command_lines(false),
        }));
    }
    let sum: f64 = ctx
        .stages
        .iter()
        .filter_map(|s| ctx.state.stages.get(&s.id))
        .map(|r| r.wall_s)
        .sum();
    writeln!(
        md,
        "\nSum of stage times {} (stages reused from an earlier invocation count their \
         original time).",
        fmt_s(Some(sum))
    )?;
    rj.insert("stages".into(), json!(stages_json));

    // Commands.
    writeln!(
        md,
        "\n## Commands\n\nEvery command of this run, exactly as it ran (from the workspace root; \
         also in [commands.sh](commands.sh)):\n\n```sh"
    )?;
    for s in ctx.stages {
        writeln!(md, "# {}", s.label)?;
        for l in s.command_lines(false) {
            writeln!(md, "{l}")?;
        }
    }
    writeln!(md, "```")?;

    let run = ctx.run_abs();
    fs::write(run.join("REPORT.md"), md)
        .with_context(|| format!("writing {}", run.join("REPORT.md").display()))?;
    fs::write(
        run.join("report.json"),
        serde_json::to_string_pretty(&Value::Object(rj))?,
    )
    .with_context(|| format!("writing {}", run.join("report.json").display()))?;
    Ok(())
}

/// One line per task and method: the headline test metric at each label fraction.
fn write_glance(ctx: &Context<'_>, md: &mut String, all: &[(TaskName, Vec<Row>)]) -> Result<()> {
    let fr = &ctx.cfg.fractions;
    writeln!(
        md,
        "\n## Results at a glance\n\nThe headline test metric of each task by label fraction \
         (details, validation metrics and plots in the sections below).\n\n| Task (metric) | \
         Method | {} |\n|---|---|{}",
        fr.iter()
            .map(|&f| format!("{} %", percent(f)))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(fr.len())
    )?;
    for (task, rows) in all {
        for m in Method::ALL {
            let cells: Vec<String> = fr
                .iter()
                .map(|&f| {
                    let v = rows
                        .iter()
                        .find(|r| r.method == m && r.fraction == f)
                        .and_then(|r| headline(*task, r));
                    fmt(v, 3)
                })
                .collect();
            writeln!(
                md,
                "| {} ({}) | {} | {} |",
                task.as_str(),
                headline_name(*task),
                m.title(),
                cells.join(" | ")
            )?;
        }
    }
    Ok(())
}

fn write_task(ctx: &Context<'_>, md: &mut String, task: TaskName, rows: &[Row]) -> Result<()> {
    let cfg = ctx.cfg;
    writeln!(md, "\n## {}\n", task.title())?;
    let (val_name, val_digits) = match task {
        TaskName::Breastpathq => ("Val loss", 4),
        _ => ("Val acc.", 3),
    };
    match task {
        TaskName::Kather => writeln!(
            md,
            "9 classes; test set from other staining batches (as CRC-VAL-HE-7K).\n\n\
             | Method | Labels | Accuracy | Weighted F1 | Macro AUC (OvR) | {val_name} | Epochs | Time | Plots |\n\
             |---|---|---|---|---|---|---|---|---|"
        )?,
        TaskName::Breastpathq => writeln!(
            md,
            "Tumour cellularity against two raters. ICC is ICC(2,1) (pingouin's `ICC2`: two-way \
             random effects, absolute agreement, single rater) with its 95 % interval; all six \
             ICC forms are in each `metrics.json`.\n\n\
             | Method | Labels | ICC vs rater A | ICC vs rater B | Pearson r (A) | MSE (A) | {val_name} | Epochs | Time | Plots |\n\
             |---|---|---|---|---|---|---|---|---|---|"
        )?,
        TaskName::Camelyon16 => writeln!(
            md,
            "Tumour vs normal. The patch folders hold training and validation patches only, so \
             the test is the held-out test slides: **patch AUC** over their tissue tiles \
             (labelled tumour when the tile centre lies in an annotated metastasis), **slide \
             AUC** of the slides' maximum tile probability, and the Camelyon16 lesion-level \
             **FROC** score (mean sensitivity at 1/4 … 8 false positives per slide).\n\n\
             | Method | Labels | Patch AUC | Slide AUC | FROC | {val_name} | Epochs | Time | Plots |\n\
             |---|---|---|---|---|---|---|---|---|"
        )?,
    }
    for r in rows {
        let s = r.summary.as_ref();
        let mtr = r.metrics.as_ref();
        let (val, _) = val_metric(s, task);
        let train = cfg.train_dir(task, r.fraction, r.method);
        let test = cfg.test_dir(task, r.fraction, r.method);
        let mut time = ctx.wall(&r.id);
        let slides_dir = cfg.slides_dir(r.fraction, r.method);
        if task == TaskName::Camelyon16 {
            time = match (time, ctx.wall(&format!("{}/slides", r.id))) {
                (Some(a), Some(b)) => Some(a + b),
                (a, None) => a,
                (None, b) => b,
            };
        }
        let mut links: Vec<Option<String>> = vec![
            ctx.link("loss", &train.join("curve_loss.png")),
            ctx.link("val metric", &train.join("curve_metrics.png")),
        ];
        match task {
            TaskName::Kather => {
                links.push(ctx.link("confusion", &test.join("plots/confusion_matrix.png")));
                links.push(
                    ctx.png(&test.join("plots"), "roc")
                        .and_then(|p| ctx.link("ROC", &p)),
                );
            }
            TaskName::Breastpathq => {
                links.push(
                    ctx.png(&test.join("plots"), "bland_altman_prediction_vs_rater_A")
                        .and_then(|p| ctx.link("Bland–Altman", &p)),
                );
                links.push(
                    ctx.png(&test.join("plots"), "scatter_prediction_vs_rater_A")
                        .and_then(|p| ctx.link("scatter", &p)),
                );
            }
            TaskName::Camelyon16 => {
                let e = slides_dir.join("eval");
                links.push(
                    ctx.png(&e.join("tiles-plots"), "roc")
                        .and_then(|p| ctx.link("ROC", &p)),
                );
                links.push(ctx.link("FROC", &e.join("froc.png")));
                links.push(first_heatmap(ctx, &slides_dir).and_then(|p| ctx.link("heat-map", &p)));
            }
        }
        let links = links.into_iter().flatten().collect::<Vec<_>>().join(" · ");
        let head = format!("| {} | {} % |", r.method.title(), percent(r.fraction));
        let tail = format!(
            " {} | {} | {} | {} |",
            fmt(val, val_digits),
            fmt(epochs(s), 0),
            fmt_s(time),
            links
        );
        match task {
            TaskName::Kather => writeln!(
                md,
                "{head} {} | {} | {} |{tail}",
                fmt(num(mtr, &["accuracy"]), 3),
                fmt(num(mtr, &["f1_weighted"]), 3),
                fmt(num(mtr, &["auc_ovr_macro"]), 3),
            )?,
            TaskName::Breastpathq => writeln!(
                md,
                "{head} {} | {} | {} | {} |{tail}",
                fmt_icc(icc(mtr, "prediction_vs_rater_a")),
                fmt_icc(icc(mtr, "prediction_vs_rater_b")),
                fmt(num(mtr, &["pearson"]).or(num(mtr, &["pearson", "r"])), 3),
                fmt(num(mtr, &["mse"]), 4),
            )?,
            TaskName::Camelyon16 => writeln!(
                md,
                "{head} {} | {} | {} |{tail}",
                fmt(num(mtr, &["auc"]), 3),
                fmt(num(r.slides.as_ref(), &["auc"]), 3),
                fmt(num(r.froc.as_ref(), &["score"]), 3),
            )?,
        }
    }
    if task == TaskName::Breastpathq
        && let Some(ab) = rows
            .iter()
            .find_map(|r| icc(r.metrics.as_ref(), "rater_a_vs_rater_b").0)
    {
        writeln!(
            md,
            "\nThe two raters agree with each other at ICC(2,1) = {ab:.3} on the same test \
             patches (the ceiling a model can be measured against)."
        )?;
    }
    // Head-to-head counts.
    let name = headline_name(task);
    let mut lines = vec![];
    for (a, b) in [
        (Method::Ssl, Method::Baseline),
        (Method::SslCr, Method::Ssl),
        (Method::SslCr, Method::Baseline),
    ] {
        let mut wins = 0;
        let mut n = 0;
        for &f in &cfg.fractions {
            let get = |m: Method| {
                rows.iter()
                    .find(|r| r.method == m && r.fraction == f)
                    .and_then(|r| headline(task, r))
            };
            if let (Some(x), Some(y)) = (get(a), get(b)) {
                n += 1;
                if x > y {
                    wins += 1;
                }
            }
        }
        if n > 0 {
            lines.push(format!(
                "{} beats {} at {wins} of {n} label fractions",
                a.title(),
                b.title()
            ));
        }
    }
    if !lines.is_empty() {
        writeln!(md, "\nOn {name}: {}.", lines.join("; "))?;
    }
    Ok(())
}

/// The heat-map PNG of the first tumour slide (by the evaluation's `slides.csv`), else of the
/// first slide.
fn first_heatmap(ctx: &Context<'_>, slides_dir: &Path) -> Option<PathBuf> {
    let maps = slides_dir.join("maps");
    let tumour = fs::read_to_string(ctx.abs(&slides_dir.join("eval/slides.csv")))
        .ok()
        .and_then(|t| {
            t.lines()
                .skip(1)
                .find(|l| l.split(',').nth(1) == Some("1"))
                .and_then(|l| l.split(',').next().map(str::to_string))
        });
    if let Some(name) = tumour {
        let p = maps.join(format!("{name}_heatmap.png"));
        if ctx.abs(&p).is_file() {
            return Some(p);
        }
    }
    ctx.png(&maps, "heatmap")
}

fn task_json(ctx: &Context<'_>, task: TaskName, rows: &[Row]) -> Value {
    let cfg = ctx.cfg;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let s = r.summary.as_ref();
            let m = r.metrics.as_ref();
            let (val, val_name) = val_metric(s, task);
            let test_metrics = match task {
                TaskName::Kather => json!({
                    "accuracy": num(m, &["accuracy"]),
                    "f1_weighted": num(m, &["f1_weighted"]),
                    "auc_ovr_macro": num(m, &["auc_ovr_macro"]),
                    "balanced_accuracy": num(m, &["balanced_accuracy"]),
                    "kappa": num(m, &["kappa"]),
                }),
                TaskName::Breastpathq => {
                    let a = icc(m, "prediction_vs_rater_a");
                    let b = icc(m, "prediction_vs_rater_b");
                    let ab = icc(m, "rater_a_vs_rater_b");
                    json!({
                        "icc2_vs_rater_a": a.0, "icc2_vs_rater_a_ci95": [a.1, a.2],
                        "icc2_vs_rater_b": b.0, "icc2_vs_rater_b_ci95": [b.1, b.2],
                        "icc2_rater_a_vs_rater_b": ab.0,
                        "pearson_vs_rater_a": num(m, &["pearson"]),
                        "mse_vs_rater_a": num(m, &["mse"]),
                    })
                }
                TaskName::Camelyon16 => json!({
                    "patch_auc": num(m, &["auc"]),
                    "slide_auc": num(r.slides.as_ref(), &["auc"]),
                    "froc_score": num(r.froc.as_ref(), &["score"]),
                }),
            };
            let train = cfg.train_dir(task, r.fraction, r.method);
            json!({
                "method": r.method.as_str(),
                "fraction": r.fraction,
                "status": ctx.status(&r.id),
                "test": test_metrics,
                "validation": { "metric": val_name, "value": val },
                "epochs": epochs(s),
                "train_wall_s": ctx.wall(&r.id),
                "files": {
                    "summary": ctx.file(&train.join("summary.json")),
                    "loss_curve": ctx.file(&train.join("curve_loss.png")),
                    "metric_curve": ctx.file(&train.join("curve_metrics.png")),
                    "metrics": ctx.file(&cfg.test_dir(task, r.fraction, r.method).join("metrics.json")),
                },
            })
        })
        .collect();
    json!({ "task": task.kind(), "rows": rows })
}
