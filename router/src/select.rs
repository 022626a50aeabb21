//! Which server gets a ticket: among the servers that host its team, the
//! one with the fewest deliveries not yet acknowledged (then by region and
//! id, so the choice is stable), skipping disabled servers, servers whose
//! circuit is open and servers already tried; failing those, the company's
//! central server.

use std::collections::HashMap;

use switchboard_core::ids::{ServerId, TeamId};
use switchboard_core::routing::Destination;
use switchboard_store::{ServerRecord, TeamRecord};
use time::OffsetDateTime;

/// The server chosen (if any) and why, in words for the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub team: Option<TeamId>,
    pub server: Option<ServerId>,
    pub reason: String,
}

/// Whether a server may get new work now.
pub fn usable(server: &ServerRecord, now: OffsetDateTime) -> bool {
    server.fields.enabled && server.circuit_open_until.is_none_or(|until| until <= now)
}

fn unusable_because(server: &ServerRecord, now: OffsetDateTime) -> &'static str {
    if !server.fields.enabled {
        "disabled"
    } else if !usable(server, now) {
        "its circuit is open"
    } else {
        "tried already"
    }
}

/// Chooses the server for `destination`. `excluded` are servers already
/// tried for this ticket; `pending` the deliveries each server has not
/// acknowledged yet.
pub fn choose(
    destination: Destination,
    teams: &[TeamRecord],
    servers: &[ServerRecord],
    pending: &HashMap<ServerId, u64>,
    excluded: &[ServerId],
    now: OffsetDateTime,
) -> Choice {
    let available = |server: &&ServerRecord| usable(server, now) && !excluded.contains(&server.id);
    let central = || servers.iter().filter(|server| server.fields.central).find(available);
    let to_central = |team: Option<TeamId>, why: String| match central() {
        Some(server) => Choice {
            team,
            server: Some(server.id),
            reason: format!("{why}; the central server `{}` takes it", server.fields.name),
        },
        None => Choice { team, server: None, reason: format!("{why}, and no central server is available") },
    };
    match destination {
        Destination::Review => Choice { team: None, server: None, reason: "it waits for review".into() },
        Destination::Central => to_central(None, "no team claims it".into()),
        Destination::Server { server: wanted } => match servers.iter().find(|server| server.id == wanted) {
            Some(server) if available(&server) => Choice {
                team: None,
                server: Some(server.id),
                reason: format!("a rule names server `{}`", server.fields.name),
            },
            Some(server) => to_central(
                None,
                format!("the server `{}` a rule names is {}", server.fields.name, unusable_because(server, now)),
            ),
            None => to_central(None, "the server a rule names no longer exists".into()),
        },
        Destination::Team { team: wanted } => {
            let Some(team) = teams.iter().find(|team| team.id == wanted) else {
                return to_central(None, "the team it was routed to no longer exists".into());
            };
            let hosts: Vec<&ServerRecord> =
                servers.iter().filter(|server| team.fields.servers.contains(&server.id)).collect();
            let best = hosts.iter().copied().filter(available).min_by(|one, other| {
                let load = |server: &ServerRecord| pending.get(&server.id).copied().unwrap_or(0);
                (load(one), &one.fields.region, one.id).cmp(&(load(other), &other.fields.region, other.id))
            });
            match best {
                Some(server) => Choice {
                    team: Some(team.id),
                    server: Some(server.id),
                    reason: format!(
                        "team `{}` works on `{}`, the least loaded of its {} available server(s) ({} pending)",
                        team.fields.name,
                        server.fields.name,
                        hosts.iter().copied().filter(available).count(),
                        pending.get(&server.id).copied().unwrap_or(0)
                    ),
                },
                None if hosts.is_empty() => {
                    to_central(Some(team.id), format!("team `{}` is hosted on no server", team.fields.name))
                }
                None => {
                    to_central(Some(team.id), format!("none of team `{}`'s servers is available", team.fields.name))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::CompanyId;
    use switchboard_core::config::Secret;
    use switchboard_store::{ServerFields, TeamFields};

    use super::*;

    fn server(n: u128, region: &str, central: bool) -> ServerRecord {
        ServerRecord {
            id: ServerId(uuid::Uuid::from_u128(n)),
            company: CompanyId::parse("acme").expect("valid"),
            fields: ServerFields {
                name: format!("s{n}"),
                region: Some(region.into()),
                base_url: "http://127.0.0.1:9/".into(),
                signing_secret: Secret::new("whsec_x".into()),
                enabled: true,
                central,
            },
            circuit_open_until: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn team(servers: &[&ServerRecord]) -> TeamRecord {
        TeamRecord {
            id: TeamId(uuid::Uuid::from_u128(100)),
            company: CompanyId::parse("acme").expect("valid"),
            fields: TeamFields {
                name: "desk".into(),
                categories: vec![],
                members: vec![],
                servers: servers.iter().map(|server| server.id).collect(),
            },
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_least_loaded_available_server_of_the_team_then_central() {
        let (one, two, hq) = (server(1, "eu", false), server(2, "us", false), server(3, "eu", true));
        let teams = vec![team(&[&one, &two])];
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        let servers = vec![one.clone(), two.clone(), hq.clone()];
        let destination = Destination::Team { team: teams[0].id };
        let pick = |pending: &[(u128, u64)], excluded: &[ServerId], servers: &[ServerRecord]| {
            let pending = pending.iter().map(|(n, count)| (ServerId(uuid::Uuid::from_u128(*n)), *count)).collect();
            choose(destination, &teams, servers, &pending, excluded, now).server
        };
        assert_eq!(pick(&[], &[], &servers), Some(one.id), "equal load: by region, then id");
        assert_eq!(pick(&[(1, 3), (2, 1)], &[], &servers), Some(two.id));
        assert_eq!(pick(&[(2, 1)], &[one.id], &servers), Some(two.id), "tried servers are skipped");
        assert_eq!(pick(&[], &[one.id, two.id], &servers), Some(hq.id), "then the central one");
        assert_eq!(pick(&[], &[one.id, two.id, hq.id], &servers), None);
        let mut open = servers.clone();
        open[0].circuit_open_until = Some(now + time::Duration::seconds(1));
        open[1].fields.enabled = false;
        let choice = choose(destination, &teams, &open, &HashMap::new(), &[], now);
        assert_eq!(choice.server, Some(hq.id));
        assert_eq!(choice.reason, "none of team `desk`'s servers is available; the central server `s3` takes it");
        open[0].circuit_open_until = Some(now);
        assert_eq!(choose(destination, &teams, &open, &HashMap::new(), &[], now).server, Some(one.id), "closed again");
        assert_eq!(choose(Destination::Review, &teams, &servers, &HashMap::new(), &[], now).server, None);
    }
}
