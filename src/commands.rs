//! One-shot commands of the `switchboard` binary that need the store or the
//! bus (the pure tools live in the stage crates).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use switchboard_bus::OutgoingMessage;
use switchboard_bus::dead_letters::{self, shown};
use switchboard_core::config::Config;
use switchboard_core::events::KbChange;
use switchboard_core::{CompanyId, Scope};
use switchboard_kb::stage as kb_stage;
use switchboard_kb::{KbOptions, KnowledgeBase, SearchFilter};

use crate::lock::{DirectoryLock, index_lock_file};
use crate::{open_bus, open_store};

/// `switchboard kb import`: validates every article of a JSON Lines file,
/// stores them, and announces them on `kb.changes` so that running indexes
/// (in this or other processes) pick them up.
pub async fn kb_import(config: &Config, path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let faqs = switchboard_core::kb::parse_faq_lines(&bytes, time::OffsetDateTime::now_utc())
        .with_context(|| format!("{} is not a valid import file", path.display()))?;
    let store = open_store(config).await?;
    let bus = open_bus(config, &store).await?;
    // An operator's command: the installation's scope.
    let created = store.upsert_faqs(&Scope::Installation, &faqs).await.context("storing the articles")?;
    let topic = config.topics().kb_changes();
    let sends = faqs.iter().map(|faq| {
        let change = KbChange::changed(faq);
        bus.produce(OutgoingMessage {
            topic: topic.clone(),
            key: Some(change.key().into_bytes()),
            payload: serde_json::to_vec(&change).unwrap_or_default(),
            headers: Default::default(),
        })
    });
    for result in futures::future::join_all(sends).await {
        result.context("announcing the articles on the bus (they are stored; run the import again)")?;
    }
    let new = created.iter().filter(|created| **created).count();
    writeln!(out, "imported {} articles ({new} new, {} updated)", faqs.len(), faqs.len() - new)?;
    store.close().await;
    Ok(())
}

/// `switchboard kb search`: matches `query` against everything in the store
/// (loaded into a temporary index, so it works while a server holds the
/// on-disk one).
pub async fn kb_search(config: &Config, query: &str, k: usize, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let knowledge_base = Arc::new(KnowledgeBase::in_ram(KbOptions::default())?);
    kb_stage::rebuild_from_store(&knowledge_base, &store).await?;
    store.close().await;
    let matches = knowledge_base.search(query, k, &SearchFilter::default())?;
    if matches.is_empty() && !json {
        writeln!(out, "no match")?;
    }
    for found in matches {
        let suggestion = kb_stage::suggestion(&found);
        if json {
            writeln!(out, "{}", serde_json::to_string(&suggestion)?)?;
        } else {
            let kind = found.kind.as_str();
            writeln!(
                out,
                "{:>5.3}  {kind:<13} {:<12} {}\n       {}",
                found.confidence, found.id, found.title, found.snippet
            )?;
        }
    }
    Ok(())
}

/// `switchboard kb rebuild`: rebuilds the on-disk index from the store.
/// Refused while a server holds the index.
pub async fn kb_rebuild(config: &Config, out: &mut impl Write) -> anyhow::Result<()> {
    let directory = config.kb_index_dir();
    let _lock = DirectoryLock::acquire(
        &index_lock_file(&directory),
        &format!("the knowledge-base index {}", directory.display()),
    )?;
    let store = open_store(config).await?;
    let (knowledge_base, _) = KnowledgeBase::open_or_create(&directory, KbOptions::default())
        .with_context(|| format!("opening {}", directory.display()))?;
    let count = kb_stage::rebuild_from_store(&Arc::new(knowledge_base), &store).await?;
    writeln!(out, "rebuilt {} with {count} documents", directory.display())?;
    store.close().await;
    Ok(())
}

/// `switchboard triage train --from-store`: retrains a triage model on the
/// tickets whose category (or urgency) staff set or corrected, and stores it
/// (active with `--activate`), so that running triage stages can switch to it.
pub async fn triage_train_from_store(
    config: &Config,
    args: switchboard_triage::TrainArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use switchboard_store::LabelField;
    use switchboard_triage::Task;

    let task = args.task.context("--from-store needs --task category|urgency")?;
    let field = match task {
        Task::Category => LabelField::Category,
        Task::Urgency => LabelField::Urgency,
    };
    let owner = args.company.as_deref().map(CompanyId::parse).transpose().context("--company")?;
    let scope = owner.clone().map_or(Scope::Installation, Scope::Company);
    let store = open_store(config).await?;
    let tickets =
        store.staff_labelled_tickets(&scope, field, args.limit).await.context("reading staff-labelled tickets")?;
    let examples: Vec<(String, String)> = tickets
        .iter()
        .filter_map(|ticket| {
            let label = match task {
                Task::Category => ticket.category.clone(),
                Task::Urgency => ticket.urgency.map(|urgency| urgency.as_str().to_owned()),
            }?;
            Some((switchboard_triage::ticket_text(ticket), label))
        })
        .collect();
    let scope = args.company.as_deref().map_or_else(|| "all companies".to_owned(), |c| format!("company {c:?}"));
    writeln!(out, "read {} tickets with a staff-set {} ({scope})", examples.len(), task.as_str())?;
    let classes: std::collections::BTreeSet<&str> = examples.iter().map(|(_, label)| label.as_str()).collect();
    if classes.len() < 2 {
        anyhow::bail!(
            "cannot train a {} model: staff labelled {} tickets with {} distinct {} value(s), and a classifier needs at \
             least two; label more tickets with PATCH /v1/tickets/{{id}} first",
            task.as_str(),
            examples.len(),
            classes.len(),
            task.as_str()
        );
    }
    // Training is seconds to minutes of CPU: keep it off the async workers.
    let (model, report, args) = tokio::task::spawn_blocking(move || {
        let mut report = Vec::new();
        let model = switchboard_triage::train_and_report(examples, None, &args, &mut report);
        (model, report, args)
    })
    .await
    .context("the training thread failed")?;
    out.write_all(&report)?;
    let model = model?;
    let metadata = serde_json::to_value(model.metadata())?;
    let id = store
        .insert_triage_model(
            owner.as_ref(),
            task.as_str(),
            model.version(),
            &model.to_bytes()?,
            &metadata,
            args.activate,
        )
        .await
        .context("storing the model")?;
    let (owner, switch) = match owner {
        Some(company) => (format!("company {company}"), format!("POST /v1/triage/models/{id}/activate")),
        None => ("the installation".to_owned(), format!("switchboard triage activate {id}")),
    };
    if args.activate {
        writeln!(out, "stored and activated model {id} ({}) for {} of {owner}", model.version(), task.as_str())?;
    } else {
        writeln!(
            out,
            "stored model {id} ({}) for {} of {owner}; activate it with {switch}",
            model.version(),
            task.as_str()
        )?;
    }
    store.close().await;
    Ok(())
}

/// `switchboard triage activate ID [--off]`: the operator's switch for any
/// owner's model (a company's admin switches the company's own through the API).
pub async fn triage_activate(
    config: &Config,
    args: &switchboard_triage::ActivateArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let changed = store.set_triage_model_active(&Scope::Installation, args.id, !args.off).await;
    store.close().await;
    if !changed.context("changing the model")? {
        anyhow::bail!("no model {} in the store; `GET /v1/triage/models` lists them", args.id);
    }
    let what = if args.off { "deactivated" } else { "activated" };
    writeln!(out, "{what} model {}; triage stages follow within their reload interval", args.id)?;
    Ok(())
}

/// `switchboard dlq list --stage S`: the stage's dead letters that were not
/// replayed yet.
pub async fn dlq_list(config: &Config, stage: &str, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let bus = open_bus(config, &store).await?;
    let dead = dead_letters::list(bus.as_ref(), config, stage).await.context("reading the dead-letter topics")?;
    if dead.is_empty() && !json {
        writeln!(out, "no dead letters for stage {stage}")?;
    }
    for letter in &dead {
        if json {
            writeln!(out, "{}", serde_json::to_string(letter)?)?;
        } else {
            writeln!(
                out,
                "{}  from {}  key {}  attempts {}  at {}{}\n    {}",
                letter.position(),
                letter.origin(),
                shown(&letter.key),
                shown(&letter.attempts),
                shown(&letter.failed_at),
                letter.truncated_bytes.as_ref().map_or_else(String::new, |bytes| format!(
                    "  STUB of a {bytes}-byte message (too large to dead-letter; the original is at its origin offset)"
                )),
                shown(&letter.error),
            )?;
        }
    }
    store.close().await;
    Ok(())
}

/// `switchboard dlq replay --stage S`: puts the stage's dead letters back on
/// their topics for that stage alone.
pub async fn dlq_replay(config: &Config, stage: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let bus = open_bus(config, &store).await?;
    let report = dead_letters::replay(bus.as_ref(), config, stage).await.context("replaying dead letters")?;
    let total: usize = report.replayed.iter().map(|(_, count)| count).sum();
    for stub in &report.skipped_stubs {
        writeln!(
            out,
            "skipped stub {}: a {}-byte message too large to dead-letter; the original is at {}",
            stub.position(),
            shown(&stub.truncated_bytes),
            stub.origin(),
        )?;
    }
    if total == 0 && report.skipped_stubs.is_empty() {
        writeln!(out, "no dead letters for stage {stage}")?;
    } else if total > 0 {
        let topics: Vec<String> = report.replayed.iter().map(|(topic, count)| format!("{count} to {topic}")).collect();
        writeln!(out, "replayed {total} dead letters for stage {stage}: {}", topics.join(", "))?;
    }
    store.close().await;
    Ok(())
}

/// What `switchboard company create` made.
#[derive(Debug, serde::Serialize)]
pub struct CreatedCompany {
    pub company: CompanyId,
    pub name: String,
    pub admin_account: switchboard_core::AccountId,
    pub admin_username: String,
    pub admin_email: String,
    /// The one-time token that sets the admin's first password.
    pub set_password_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub set_password_token_expires_at: time::OffsetDateTime,
}

/// The company id a name gives when none is chosen: lower-case letters and
/// digits, other runs of characters as one `-` ("Acme Corp." → `acme-corp`).
pub fn company_id_from_name(name: &str) -> String {
    let mut id = String::new();
    for character in name.trim().chars().flat_map(char::to_lowercase) {
        if character.is_alphanumeric() {
            id.push(character);
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_end_matches('-').to_owned()
}

/// `switchboard company create`: a company and its first admin, who has no
/// password yet; the answer holds the one-time token that sets it. Nothing
/// secret is logged.
pub async fn company_create(
    config: &Config,
    name: &str,
    id: Option<&str>,
    admin_email: &str,
    admin_username: Option<&str>,
    admin_name: Option<&str>,
) -> anyhow::Result<CreatedCompany> {
    use switchboard_core::Role;
    use switchboard_core::auth::AccountKind;
    use switchboard_store::{NewAccount, TokenPurpose};

    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "--name must not be empty");
    let id_text = id.map(str::to_owned).unwrap_or_else(|| company_id_from_name(name));
    let company = CompanyId::parse(&id_text).map_err(|error| {
        anyhow::anyhow!("cannot make a company id of {id_text:?} ({}); choose one with --id", error.message)
    })?;
    let email = admin_email.trim().to_lowercase();
    anyhow::ensure!(
        email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
        "--admin-email must be an e-mail address such as ana@example.com"
    );
    let username = match admin_username {
        Some(username) => username.trim().to_lowercase(),
        None => email.split('@').next().unwrap_or_default().to_owned(),
    };
    let store = open_store(config).await?;
    anyhow::ensure!(
        store.create_company(&company, name).await.context("creating the company")?,
        "a company with id `{company}` exists already; choose another with --id"
    );
    let account = store
        .create_account(&NewAccount {
            company: &company,
            role: Role::Admin,
            kind: AccountKind::Work,
            name: admin_name.map(str::trim).filter(|name| !name.is_empty()).unwrap_or(&username),
            username: &username,
            email: &email,
            password_hash: None,
        })
        .await
        .map_err(|error| match error {
            switchboard_store::Error::Taken(field) => {
                anyhow::anyhow!("another account has this {field}; give another --admin-email or --admin-username")
            }
            other => anyhow::Error::from(other).context("creating the admin account"),
        })?;
    let ttl = config.auth.set_password_token_ttl();
    let (token, expires_at) =
        switchboard_web::auth::issue_one_time_token(&store, account.id, TokenPurpose::SetPassword, ttl)
            .await
            .context("recording the set-password token")?;
    store.close().await;
    Ok(CreatedCompany {
        company,
        name: name.to_owned(),
        admin_account: account.id,
        admin_username: username,
        admin_email: email,
        set_password_token: token,
        set_password_token_expires_at: expires_at,
    })
}

/// Prints what `company create` made and what to do next.
pub fn print_created_company(
    config: &Config,
    created: &CreatedCompany,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(created)?)?;
        return Ok(());
    }
    let base = format!("http://{}", config.listen);
    writeln!(
        out,
        "created company `{}` ({}) with its admin {} (username `{}`, account {})",
        created.company, created.name, created.admin_email, created.admin_username, created.admin_account
    )?;
    writeln!(
        out,
        "set the admin's password with this one-time token, valid until {}:",
        created.set_password_token_expires_at
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "  curl -X PUT {base}/v1/accounts/{}/password -H 'content-type: application/json' \\\n    -d '{{\"token\": \"{}\", \"new_password\": \"<at least 10 characters>\"}}'",
        created.admin_account, created.set_password_token
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "then sign in with POST {base}/v1/sessions {{\"login\": \"{}\", \"password\": …}}",
        created.admin_username
    )?;
    Ok(())
}

/// `switchboard api-key create`: an API key for an integration of
/// `company`, for operators who set up integrations without the API (a
/// headless ingest, a load test). The secret is printed once.
pub async fn api_key_create(
    config: &Config,
    company: &str,
    name: &str,
    scopes: &[String],
) -> anyhow::Result<(switchboard_store::ApiKeyRecord, String)> {
    let company = CompanyId::parse(company).map_err(|error| anyhow::anyhow!("--company: {}", error.message))?;
    anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
    anyhow::ensure!(!scopes.is_empty(), "give at least one --scope");
    let parsed = switchboard_core::KeyScope::parse_list(scopes).map_err(|(_, message)| anyhow::anyhow!(message))?;
    let store = open_store(config).await?;
    anyhow::ensure!(
        store.company(&company).await?.is_some(),
        "no company `{company}`; create it with `switchboard company create`"
    );
    let (record, secret) = switchboard_web::auth::issue_api_key(&store, &company, name.trim(), &parsed, None)
        .await
        .context("storing the key")?;
    store.close().await;
    Ok((record, secret))
}

/// How `switchboard stats equipment` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsFormat {
    Table,
    Csv,
    Json,
}

/// `switchboard stats equipment`: one model's statistics (see
/// `switchboard_store::stats` for what each figure means).
pub async fn stats_equipment(
    config: &Config,
    company: &str,
    model: &str,
    (from, to): (Option<time::Date>, Option<time::Date>),
    format: StatsFormat,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let company = CompanyId::parse(company).map_err(|error| anyhow::anyhow!("--company: {}", error.message))?;
    anyhow::ensure!(!model.trim().is_empty(), "--model must not be empty");
    anyhow::ensure!(from.zip(to).is_none_or(|(from, to)| from <= to), "--to must not be before --from");
    let store = open_store(config).await?;
    let query = switchboard_store::StatsQuery::for_dates(model.trim(), from, to);
    let stats = store.equipment_stats(&company, &query).await.context("computing the statistics")?;
    store.close().await;
    match format {
        StatsFormat::Csv => out.write_all(stats.to_csv().as_bytes())?,
        StatsFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&stats)?)?,
        StatsFormat::Table => print_stats_table(&stats, out)?,
    }
    Ok(())
}

fn print_stats_table(stats: &switchboard_store::EquipmentStats, out: &mut impl Write) -> std::io::Result<()> {
    let figure =
        |value: Option<f64>, unit: &str| value.map_or_else(|| "-".to_owned(), |value| format!("{value:.1}{unit}"));
    writeln!(out, "model {}", stats.model)?;
    writeln!(out, "  tickets                    {}", stats.tickets)?;
    writeln!(out, "  resolved                   {}", stats.resolved)?;
    writeln!(out, "  interventions              {}", stats.interventions)?;
    writeln!(out, "  units with failures        {}", stats.units)?;
    writeln!(out, "  mean time to repair        {}", figure(stats.mean_time_to_repair_hours, " h"))?;
    writeln!(out, "  mean labour                {}", figure(stats.mean_labour_minutes, " min"))?;
    writeln!(out, "  mean time between failures {}", figure(stats.mean_time_between_failures_hours, " h"))?;
    writeln!(out, "  repeat failures (30 days)  {}", stats.repeat_failures)?;
    let rate = stats.first_time_fix_rate.map(|rate| rate * 100.0);
    writeln!(out, "  first-time fixes           {} ({})", stats.first_time_fixes, figure(rate, " %"))?;
    if !stats.monthly.is_empty() {
        writeln!(out, "\nmonth     tickets  interventions")?;
        for month in &stats.monthly {
            writeln!(out, "{:<9} {:>7}  {:>13}", month.month, month.tickets, month.interventions)?;
        }
    }
    if !stats.malfunctions.is_empty() {
        writeln!(out, "\nmalfunctions (reports), and what resolved them")?;
        for malfunction in &stats.malfunctions {
            writeln!(out, "{:>6}  {}", malfunction.count, malfunction.text)?;
            for solution in &malfunction.solutions {
                writeln!(out, "{:>6}    - {}", solution.count, solution.text)?;
            }
        }
    }
    if !stats.parts.is_empty() {
        writeln!(out, "\nparts (uses)")?;
        for part in &stats.parts {
            writeln!(out, "{:>6}  {}", part.count, part.text)?;
        }
    }
    Ok(())
}

/// `switchboard stats seed`: writes a generated history into `company`.
pub async fn stats_seed(
    config: &Config,
    company: &str,
    seed: u64,
    sizes: switchboard_store::stats::seed::Sizes,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let company = CompanyId::parse(company).map_err(|error| anyhow::anyhow!("--company: {}", error.message))?;
    anyhow::ensure!(sizes.models > 0 && sizes.units >= sizes.models, "--units must be at least --models (> 0)");
    let store = open_store(config).await?;
    store.create_company(&company, company.as_str()).await.context("creating the company")?;
    let history = switchboard_store::stats::seed::generate(seed, sizes);
    let started = std::time::Instant::now();
    store.insert_history(&company, &history).await.context("writing the history")?;
    store.close().await;
    writeln!(
        out,
        "wrote {} units and {} tickets of {} models to {company} in {:.1} s",
        history.units.len(),
        history.tickets.len(),
        sizes.models,
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}
