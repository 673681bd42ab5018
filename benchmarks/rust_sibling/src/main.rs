//! 1,000 workflows x 10 no-op steps on the Rust sibling's in-memory providers, each
//! `start_workflow` awaited before the next (as `chain_serial` does), then waited for.
//! Prints one JSON line: steps/s over the span from the first start to the last step,
//! and the process CPU per step.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use wfe::WorkflowHostBuilder;
use wfe::builder::WorkflowBuilder;
use wfe::models::*;
use wfe::test_support::*;
use wfe::traits::step::{StepBody, StepExecutionContext};

static STEPS_RUN: AtomicUsize = AtomicUsize::new(0);

#[derive(Default)]
struct Noop;

#[async_trait]
impl StepBody for Noop {
    async fn run(&mut self, _ctx: &StepExecutionContext<'_>) -> wfe::Result<ExecutionResult> {
        STEPS_RUN.fetch_add(1, Ordering::Relaxed);
        Ok(ExecutionResult::next())
    }
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc (Linux), in clock ticks of 1/100 s.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let workflows: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let steps: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);

    let host = WorkflowHostBuilder::new()
        .use_persistence(Arc::new(InMemoryPersistenceProvider::default()))
        .use_lock_provider(Arc::new(InMemoryLockProvider::default()))
        .use_queue_provider(Arc::new(InMemoryQueueProvider::default()))
        .build()?;
    host.register_step::<Noop>().await;
    let mut builder = WorkflowBuilder::<serde_json::Value>::new().start_with::<Noop>();
    for _ in 1..steps {
        builder = builder.then::<Noop>();
    }
    host.register_workflow_definition(builder.end_workflow().build("bench-chain", 1)).await;
    host.start().await?;

    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut ids = Vec::with_capacity(workflows);
    for _ in 0..workflows {
        ids.push(host.start_workflow("bench-chain", 1, serde_json::json!({})).await?);
    }
    let want = workflows * steps;
    let deadline = t0 + Duration::from_secs(600);
    while STEPS_RUN.load(Ordering::Relaxed) < want {
        if Instant::now() > deadline {
            return Err(format!("{} of {want} steps after 600 s", STEPS_RUN.load(Ordering::Relaxed)).into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    // Outside the timed span: every workflow must be complete.
    let mut complete = 0;
    for id in &ids {
        for _ in 0..1000 {
            if host.get_workflow(id).await?.status == WorkflowStatus::Complete {
                complete += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    host.stop().await;
    println!(
        "{{\"workflows\": {workflows}, \"steps\": {steps}, \"elapsed_s\": {elapsed}, \
         \"steps_per_s\": {}, \"cpu_per_step_us\": {}, \"complete\": {complete}}}",
        want as f64 / elapsed,
        cpu / want as f64 * 1e6
    );
    if complete != workflows {
        return Err(format!("{complete} of {workflows} workflows complete").into());
    }
    Ok(())
}
