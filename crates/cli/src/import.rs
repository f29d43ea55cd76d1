//! `exposures import` and `opt-outs import`: NDJSON files, straight into the database.
//!
//! Both read the file twice, one line at a time, so memory stays bounded whatever the file's
//! size: the first pass validates every line (nothing is written if any line is bad, as over
//! HTTP), the second records the items in batches, one transaction each.

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use optout_core::{ExposureIntake, Idempotency, NewExposure, NewOptOut, OptOutBatch};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::cli::ImportArgs;
use crate::database;

/// Exposure items per transaction.
const EXPOSURES_PER_BATCH: usize = 2000;
/// Opt-outs per transaction (each may fan out to many notices).
const OPT_OUTS_PER_BATCH: usize = 500;
/// Problems printed before the rest are only counted.
const PROBLEMS_SHOWN: usize = 20;

/// Imports exposures and prints accepted, duplicate and refused counts.
pub async fn import_exposures(args: ImportArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let checked = validate(&args.file, |value, index| {
        optout_server::intake::parse_exposure(value, index, now).map(drop)
    })?;
    let opened = database::open(&args.database.database_url, database::Migrations::Apply).await?;
    let progress = progress_bar(checked.items, args.quiet);
    let mut intake = ExposureIntake::default();
    let mut batch: Vec<NewExposure> = Vec::with_capacity(EXPOSURES_PER_BATCH);
    let mut batch_start = 0;
    for (index, value) in items(&args.file)?.enumerate() {
        let item = optout_server::intake::parse_exposure(value?, index, now)
            .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
        batch.push(item);
        if batch.len() == EXPOSURES_PER_BATCH {
            intake.absorb(opened.store.record_exposures(&batch).await?, batch_start);
            progress.inc(batch.len() as u64);
            batch_start = index + 1;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        intake.absorb(opened.store.record_exposures(&batch).await?, batch_start);
        progress.inc(batch.len() as u64);
    }
    progress.finish_and_clear();
    println!(
        "{} lines: {} datapoints accepted, {} duplicates, {} refused",
        checked.items, intake.accepted, intake.duplicates, intake.refused
    );
    for refusal in intake.refusals.iter().take(PROBLEMS_SHOWN) {
        println!("  item {}: {}", refusal.index, refusal.reason.as_str());
    }
    if intake.refusals.len() > PROBLEMS_SHOWN {
        println!(
            "  ... and {} more refused items",
            intake.refusals.len() - PROBLEMS_SHOWN
        );
    }
    Ok(())
}

/// Imports opt-outs and prints how many notices they created. Each batch carries an idempotency
/// key made from the file's hash, so an interrupted import can simply be run again.
pub async fn import_opt_outs(args: ImportArgs) -> anyhow::Result<()> {
    let recorded_at = Utc::now();
    let checked = validate(&args.file, |value, index| {
        optout_server::intake::parse_opt_out(value, index, recorded_at).map(drop)
    })?;
    let opened = database::open(&args.database.database_url, database::Migrations::Apply).await?;
    let progress = progress_bar(checked.items, args.quiet);
    let mut notices = 0;
    let mut opt_outs = 0;
    let mut batch: Vec<NewOptOut> = Vec::with_capacity(OPT_OUTS_PER_BATCH);
    let mut fingerprint = Sha256::new();
    let mut batch_number = 0;
    for (index, value) in items(&args.file)?.enumerate() {
        let value = value?;
        fingerprint.update(value.to_string().as_bytes());
        let item = optout_server::intake::parse_opt_out(value, index, recorded_at)
            .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
        batch.push(item);
        if batch.len() == OPT_OUTS_PER_BATCH {
            let batch_fingerprint = hex::encode(std::mem::take(&mut fingerprint).finalize());
            let key = format!("import:{}:{batch_number}", checked.file_hash);
            let results = record(
                &opened,
                std::mem::take(&mut batch),
                key,
                batch_fingerprint,
                recorded_at,
            )
            .await?;
            opt_outs += results.0;
            notices += results.1;
            progress.inc(results.0);
            batch_number += 1;
        }
    }
    if !batch.is_empty() {
        let batch_fingerprint = hex::encode(fingerprint.finalize());
        let key = format!("import:{}:{batch_number}", checked.file_hash);
        let results = record(&opened, batch, key, batch_fingerprint, recorded_at).await?;
        opt_outs += results.0;
        notices += results.1;
        progress.inc(results.0);
    }
    progress.finish_and_clear();
    println!("{opt_outs} opt-outs recorded, {notices} notices queued");
    Ok(())
}

async fn record(
    opened: &database::OpenedStore,
    opt_outs: Vec<NewOptOut>,
    key: String,
    fingerprint: String,
    recorded_at: DateTime<Utc>,
) -> anyhow::Result<(u64, u64)> {
    let results = opened
        .store
        .record_opt_outs(OptOutBatch {
            opt_outs,
            idempotency: Some(Idempotency { key, fingerprint }),
            recorded_at,
        })
        .await?;
    let notices = results.iter().map(|result| result.notices).sum();
    Ok((results.len() as u64, notices))
}

/// What the validation pass found.
struct Checked {
    items: u64,
    file_hash: String,
}

/// Parses every line with `check`; fails, naming the bad lines, if any is invalid.
fn validate(
    path: &Path,
    check: impl Fn(Value, usize) -> Result<(), Vec<String>>,
) -> anyhow::Result<Checked> {
    let mut problems = Vec::new();
    let mut problem_count = 0;
    let mut items = 0;
    let mut hash = Sha256::new();
    for (index, value) in items_hashed(path, &mut hash)?.enumerate() {
        items += 1;
        let outcome = value.map_err(|error| vec![format!("[{index}] {error}")]);
        if let Err(found) = outcome.and_then(|value| check(value, index)) {
            problem_count += found.len();
            problems.extend(
                found
                    .into_iter()
                    .take(PROBLEMS_SHOWN.saturating_sub(problems.len())),
            );
        }
    }
    if problem_count > 0 {
        for problem in &problems {
            eprintln!("  {problem}");
        }
        anyhow::bail!(
            "{problem_count} problems in {} (items are numbered from 0, blank lines skipped); nothing was imported",
            path.display()
        );
    }
    Ok(Checked {
        items,
        file_hash: hex::encode(hash.finalize()),
    })
}

/// The file's non-blank lines, parsed as JSON.
fn items(path: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Value>>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(BufReader::new(file)
        .lines()
        .filter(|line| !matches!(line, Ok(text) if text.trim().is_empty()))
        .map(|line| {
            let line = line.context("cannot read the file")?;
            serde_json::from_str(&line).context("invalid JSON")
        }))
}

/// Like [`items`], also feeding every line into `hash`.
fn items_hashed<'a>(
    path: &Path,
    hash: &'a mut Sha256,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Value>> + 'a> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(BufReader::new(file)
        .lines()
        .inspect(move |line| {
            if let Ok(text) = line {
                hash.update(text.as_bytes());
                hash.update(b"\n");
            }
        })
        .filter(|line| !matches!(line, Ok(text) if text.trim().is_empty()))
        .map(|line| {
            let line = line.context("cannot read the file")?;
            serde_json::from_str(&line).context("invalid JSON")
        }))
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} items ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
