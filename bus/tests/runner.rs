//! The stage runner on every backend: outputs, retries, dead letters,
//! ordering, shutdown and resumption.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_bus::runner::{self, FailureKind};
use switchboard_bus::testing::TestBus;
use switchboard_bus::{Bus, Consumer, Handler, HandlerError, Headers, Message, OutgoingMessage, Stage, headers};
use switchboard_core::config::RunnerConfig;
use switchboard_core::topics;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

fn config() -> RunnerConfig {
    RunnerConfig {
        max_in_flight: 8,
        max_attempts: 3,
        backoff_initial_ms: 1,
        backoff_max_ms: 5,
        shutdown_grace_ms: 5_000,
    }
}

fn input(topic: &str, key: &str, payload: &str) -> OutgoingMessage {
    OutgoingMessage {
        topic: topic.to_owned(),
        key: Some(key.as_bytes().to_vec()),
        payload: payload.as_bytes().to_vec(),
        headers: Headers::default(),
    }
}

async fn receive(consumer: &dyn Consumer, count: usize) -> Vec<Message> {
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        let next = tokio::time::timeout(WAIT, consumer.recv()).await.expect("a message in time").expect("recv");
        received.push(next);
    }
    received
}

async fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<switchboard_bus::Result<()>>,
}

impl Running {
    fn start(bus: Arc<dyn Bus>, stage: Stage, handler: Arc<dyn Handler>, config: RunnerConfig) -> Self {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(runner::run(bus, stage, handler, config, shutdown.clone()));
        Self { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task).await.expect("stops in time").expect("join").expect("clean stop");
    }
}

/// Copies each input to `output`, except that a payload starting `poison`
/// fails permanently, `flaky-N` fails transiently N times first, and `grow`
/// becomes an output over the bus's limit.
struct Echo {
    output: String,
    attempts: Mutex<HashMap<String, u32>>,
    calls: AtomicU32,
}

impl Echo {
    fn new(output: String) -> Arc<Self> {
        Arc::new(Self { output, attempts: Mutex::new(HashMap::new()), calls: AtomicU32::new(0) })
    }
}

#[async_trait]
impl Handler for Echo {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let payload = String::from_utf8_lossy(&message.payload).into_owned();
        if payload == "grow" {
            let output = "g".repeat(switchboard_bus::testing::MAX_MESSAGE_BYTES + 1);
            return Ok(vec![OutgoingMessage { topic: self.output.clone(), ..input("", "grown", &output) }]);
        }
        if payload.starts_with("poison") {
            return Err(HandlerError::permanent("cannot parse the poison pill"));
        }
        if let Some(failures) = payload.strip_prefix("flaky-").and_then(|n| n.parse::<u32>().ok()) {
            let mut attempts = self.attempts.lock().expect("lock");
            let seen = attempts.entry(payload.clone()).or_insert(0);
            *seen += 1;
            if *seen <= failures {
                return Err(HandlerError::transient(format!("dependency down (attempt {seen})")));
            }
        }
        Ok(vec![OutgoingMessage { topic: self.output.clone(), ..input("", message.key_str().unwrap_or(""), &payload) }])
    }
}

async fn setup(test: &TestBus) -> (String, String, Stage) {
    let source = test.topic("in");
    let output = test.topic("out");
    test.bus
        .create_topics(&[source.clone(), topics::dead_letter(&source, "echo"), output.clone()], 2)
        .await
        .expect("create topics");
    let stage = Stage { name: "echo".into(), group: test.topic("echo"), topics: vec![source.clone()] };
    (source, output, stage)
}

async fn a_poison_message_is_dead_lettered_and_the_next_one_handled(test: TestBus) {
    let (source, output, stage) = setup(&test).await;
    for payload in ["first", "poison", "second"] {
        test.bus.produce(input(&source, "same-ticket", payload)).await.expect("produce");
    }
    let running = Running::start(test.bus.clone(), stage, Echo::new(output.clone()), config());

    let outputs = test.bus.subscribe(&test.topic("reader"), std::slice::from_ref(&output)).await.expect("subscribe");
    let handled = receive(outputs.as_ref(), 2).await;
    assert_eq!(
        handled.iter().map(|m| m.payload.clone()).collect::<Vec<_>>(),
        vec![b"first".to_vec(), b"second".to_vec()]
    );

    let dead = test
        .bus
        .subscribe(&test.topic("dlq-reader"), &[topics::dead_letter(&source, "echo")])
        .await
        .expect("subscribe");
    let dead = receive(dead.as_ref(), 1).await.remove(0);
    assert_eq!(dead.payload, b"poison");
    assert_eq!(dead.key_str(), Some("same-ticket"));
    assert_eq!(dead.headers.get(headers::DLQ_ORIGIN_TOPIC), Some(source.as_str()));
    assert_eq!(dead.headers.get(headers::DLQ_ATTEMPTS), Some("1"));
    assert_eq!(dead.headers.get(headers::DLQ_STAGE), Some("echo"));
    assert!(dead.headers.get(headers::DLQ_ERROR).is_some_and(|e| e.contains("poison pill")));
    let partition: i32 =
        dead.headers.get(headers::DLQ_ORIGIN_PARTITION).and_then(|p| p.parse().ok()).expect("partition");
    let offset: i64 = dead.headers.get(headers::DLQ_ORIGIN_OFFSET).and_then(|o| o.parse().ok()).expect("offset");
    // The provenance points at the poison pill in the source topic.
    let source_reader =
        test.bus.subscribe(&test.topic("source-reader"), std::slice::from_ref(&source)).await.expect("subscribe");
    let originals = receive(source_reader.as_ref(), 3).await;
    let original = originals.iter().find(|m| m.payload == b"poison").expect("the pill in the source");
    assert_eq!((partition, offset), (original.partition, original.offset));
    running.stop().await;
}

async fn transient_failures_are_retried_then_dead_lettered(test: TestBus) {
    let (source, output, stage) = setup(&test).await;
    // Fails twice, then works (3 attempts allowed); fails 5 times: dead letter.
    test.bus.produce(input(&source, "a", "flaky-2")).await.expect("produce");
    test.bus.produce(input(&source, "b", "flaky-5")).await.expect("produce");
    let handler = Echo::new(output.clone());
    let running = Running::start(test.bus.clone(), stage, handler.clone(), config());

    let outputs = test.bus.subscribe(&test.topic("reader"), std::slice::from_ref(&output)).await.expect("subscribe");
    assert_eq!(receive(outputs.as_ref(), 1).await[0].payload, b"flaky-2");
    let dead = test
        .bus
        .subscribe(&test.topic("dlq-reader"), &[topics::dead_letter(&source, "echo")])
        .await
        .expect("subscribe");
    let dead = receive(dead.as_ref(), 1).await.remove(0);
    assert_eq!(dead.payload, b"flaky-5");
    assert_eq!(dead.headers.get(headers::DLQ_ATTEMPTS), Some("3"));
    assert!(dead.headers.get(headers::DLQ_ERROR).is_some_and(|e| e.contains("attempt 3")));
    assert_eq!(handler.calls.load(Ordering::SeqCst), 6);
    running.stop().await;
}

async fn a_replayed_dead_letter_reaches_only_its_stage(test: TestBus) {
    let (source, output, stage) = setup(&test).await;
    let replayed_for = |target: &str, payload: &str| {
        let mut message = input(&source, "k", payload);
        message.headers.set(headers::REPLAY_STAGE, target);
        message
    };
    test.bus.produce(replayed_for("another-stage", "not-mine")).await.expect("produce");
    test.bus.produce(replayed_for("echo", "mine")).await.expect("produce");
    test.bus.produce(input(&source, "k", "ordinary")).await.expect("produce");
    let running = Running::start(test.bus.clone(), stage, Echo::new(output.clone()), config());

    let outputs = test.bus.subscribe(&test.topic("reader"), std::slice::from_ref(&output)).await.expect("subscribe");
    let handled = receive(outputs.as_ref(), 2).await;
    assert_eq!(
        handled.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect::<Vec<_>>(),
        ["mine", "ordinary"],
        "the replay for another stage is skipped, in order with the rest"
    );
    running.stop().await;
}

/// Records the order in which each key's messages are handled, taking a
/// little random time per message so that lanes interleave.
struct Recorder {
    seen: Mutex<HashMap<String, Vec<u32>>>,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        let sequence: u32 = String::from_utf8_lossy(&message.payload).parse().map_err(HandlerError::permanent)?;
        tokio::time::sleep(Duration::from_micros(u64::from(sequence * 37 % 2000))).await;
        let key = message.key_str().unwrap_or_default().to_owned();
        self.seen.lock().expect("lock").entry(key).or_default().push(sequence);
        Ok(Vec::new())
    }
}

async fn each_ticket_is_handled_in_order_while_tickets_run_in_parallel(test: TestBus) {
    let (source, _output, stage) = setup(&test).await;
    let sends = (0..20_u32).flat_map(|sequence| {
        let source = source.clone();
        let bus = test.bus.clone();
        (0..10).map(move |key| {
            let bus = bus.clone();
            let message = input(&source, &format!("ticket-{key}"), &sequence.to_string());
            async move { bus.produce(message).await }
        })
    });
    // Produce one sequence number at a time so each key's order is defined.
    for send in sends {
        send.await.expect("produce");
    }
    let recorder = Arc::new(Recorder { seen: Mutex::new(HashMap::new()) });
    let running = Running::start(test.bus.clone(), stage, recorder.clone(), config());
    wait_for("200 messages", || recorder.seen.lock().expect("lock").values().map(Vec::len).sum::<usize>() >= 200).await;
    for (key, sequences) in recorder.seen.lock().expect("lock").iter() {
        assert_eq!(sequences, &(0..20).collect::<Vec<u32>>(), "{key} out of order");
    }
    running.stop().await;
}

async fn a_restarted_stage_resumes_after_what_it_finished(test: TestBus) {
    let (source, output, stage) = setup(&test).await;
    for index in 0..30 {
        test.bus.produce(input(&source, &format!("k{index}"), &format!("m{index}"))).await.expect("produce");
    }
    let first = Echo::new(output.clone());
    let running = Running::start(test.bus.clone(), stage.clone(), first.clone(), config());
    let outputs = test.bus.subscribe(&test.topic("reader"), std::slice::from_ref(&output)).await.expect("subscribe");
    receive(outputs.as_ref(), 30).await;
    running.stop().await;
    assert_eq!(first.calls.load(Ordering::SeqCst), 30);

    test.bus.produce(input(&source, "k-late", "late")).await.expect("produce");
    let second = Echo::new(output.clone());
    let running = Running::start(test.bus.clone(), stage, second.clone(), config());
    let late = receive(outputs.as_ref(), 1).await;
    assert_eq!(late[0].payload, b"late");
    running.stop().await;
    assert_eq!(second.calls.load(Ordering::SeqCst), 1, "committed messages are not handled again");
}

/// Blocks inside `handle` until released, to hold a message in flight.
struct Gate {
    started: tokio::sync::Notify,
    release: tokio::sync::Semaphore,
    output: String,
}

#[async_trait]
impl Handler for Gate {
    async fn handle(&self, message: &Message) -> Result<Vec<OutgoingMessage>, HandlerError> {
        self.started.notify_one();
        let _permit = self.release.acquire().await.map_err(HandlerError::transient)?;
        Ok(vec![OutgoingMessage { topic: self.output.clone(), ..input("", message.key_str().unwrap_or(""), "done") }])
    }
}

async fn shutdown_finishes_the_message_in_flight_and_commits_it(test: TestBus) {
    let (source, output, stage) = setup(&test).await;
    test.bus.produce(input(&source, "k", "slow")).await.expect("produce");
    let gate =
        Arc::new(Gate { started: Default::default(), release: tokio::sync::Semaphore::new(0), output: output.clone() });
    let running = Running::start(test.bus.clone(), stage.clone(), gate.clone(), config());
    tokio::time::timeout(WAIT, gate.started.notified()).await.expect("the handler starts");
    // Stop while the message is in flight, then let the handler finish.
    running.shutdown.cancel();
    gate.release.add_permits(1);
    tokio::time::timeout(WAIT, running.task).await.expect("stops in time").expect("join").expect("clean stop");

    let outputs = test.bus.subscribe(&test.topic("reader"), std::slice::from_ref(&output)).await.expect("subscribe");
    assert_eq!(receive(outputs.as_ref(), 1).await[0].payload, b"done");
    // Its offset was committed: a restarted stage sees only what comes next.
    test.bus.produce(input(&source, "k", "next")).await.expect("produce");
    let counter = Echo::new(output.clone());
    let running = Running::start(test.bus.clone(), stage, counter.clone(), config());
    assert_eq!(receive(outputs.as_ref(), 1).await[0].payload, b"next");
    running.stop().await;
    assert_eq!(counter.calls.load(Ordering::SeqCst), 1);
}

async fn a_dead_letter_too_large_to_copy_becomes_a_stub_and_the_partition_moves_on(test: TestBus) {
    let (source, output, stage) = setup(&test).await;
    // Fits the bus, but not with the dead-letter provenance added.
    let near_limit = format!("poison{}", "x".repeat(switchboard_bus::testing::MAX_MESSAGE_BYTES - 200));
    for payload in ["grow", near_limit.as_str(), "second"] {
        let mut message = input(&source, "one-ticket", payload);
        message.headers.set(headers::REQUEST_ID, "req-7");
        test.bus.produce(message).await.expect("produce");
    }
    let running = Running::start(test.bus.clone(), stage, Echo::new(output.clone()), config());
    let outputs = test.bus.subscribe(&test.topic("reader"), std::slice::from_ref(&output)).await.expect("subscribe");
    assert_eq!(receive(outputs.as_ref(), 1).await[0].payload, b"second", "the partition moved on");

    let dead = test
        .bus
        .subscribe(&test.topic("dlq-reader"), &[topics::dead_letter(&source, "echo")])
        .await
        .expect("subscribe");
    let dead = receive(dead.as_ref(), 2).await;
    // An output over the limit dead-letters its (small) input whole.
    assert_eq!(dead[0].payload, b"grow");
    assert!(dead[0].headers.get(headers::DLQ_ERROR).is_some_and(|e| e.contains("limit")), "{:?}", dead[0].headers);
    assert_eq!(dead[0].headers.get(headers::DLQ_TRUNCATED), None);
    // The near-limit input is too large to copy: a stub with its provenance.
    let stub = &dead[1];
    assert!(stub.payload.is_empty());
    assert_eq!(stub.key_str(), Some("one-ticket"));
    let copy_bytes: usize = stub.headers.get(headers::DLQ_TRUNCATED).and_then(|b| b.parse().ok()).expect("size");
    assert!(copy_bytes > switchboard_bus::testing::MAX_MESSAGE_BYTES, "{copy_bytes}");
    assert_eq!(stub.headers.get(headers::DLQ_ORIGIN_TOPIC), Some(source.as_str()));
    let origin_offset = |message: &Message| -> i64 {
        message.headers.get(headers::DLQ_ORIGIN_OFFSET).and_then(|o| o.parse().ok()).expect("origin offset")
    };
    assert_eq!(origin_offset(stub), origin_offset(&dead[0]) + 1, "the stub points at the near-limit input");
    assert_eq!(stub.headers.get(headers::REQUEST_ID), Some("req-7"));
    assert!(stub.headers.get(headers::DLQ_ERROR).is_some_and(|e| e.contains("poison pill")));
    running.stop().await;
}

switchboard_bus::test_every_bus!(
    a_dead_letter_too_large_to_copy_becomes_a_stub_and_the_partition_moves_on,
    a_poison_message_is_dead_lettered_and_the_next_one_handled,
    transient_failures_are_retried_then_dead_lettered,
    a_replayed_dead_letter_reaches_only_its_stage,
    each_ticket_is_handled_in_order_while_tickets_run_in_parallel,
    a_restarted_stage_resumes_after_what_it_finished,
    shutdown_finishes_the_message_in_flight_and_commits_it,
);

#[test]
fn failure_kinds_are_kept() {
    assert_eq!(HandlerError::transient("x").kind, FailureKind::Transient);
    assert_eq!(HandlerError::permanent("x").kind, FailureKind::Permanent);
}
