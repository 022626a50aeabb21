//! The OpenAPI 3.1 document, generated from the route tables.
//!
//! Every [`RouteRule`] already says method, path and who may call it; its
//! documentation part adds a summary, the success statuses and the request
//! body's schema (derived with `utoipa::ToSchema` from the very type the
//! handler parses). [`document`] turns the tables of ingest and the API
//! into one document, so a route cannot be served without being documented:
//! it would need a rule, and the rule is the documentation.
//!
//! Every error is the one JSON shape of [`switchboard_core::http::ErrorBody`];
//! the document lists, per operation, the statuses it can answer with.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use switchboard_core::http::{ErrorBody, Schemas, reference_to};
use switchboard_core::notifications::EventType;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::Schema;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::auth::{Access, RouteRule};

/// Where the document is served.
pub const PATH: &str = "/v1/openapi.json";

/// The document's own route, to list it in the document.
pub const ROUTES: &[RouteRule] =
    &[RouteRule::new("GET", PATH, Access::Public).doc("This document: every route, its access and bodies")];

/// A router serving `document` at [`PATH`] (serialised once).
pub fn router(document: &Value) -> axum::Router {
    let body = axum::body::Bytes::from(serde_json::to_vec(document).unwrap_or_default());
    axum::Router::new().route(
        PATH,
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body) }
        }),
    )
}

/// Collects a type's schema and the schemas it refers to.
pub type SchemaFn = fn(&mut Schemas) -> RefOr<Schema>;

/// A request body: its media type and schema.
#[derive(Clone, Copy, Debug)]
pub struct RequestBody {
    pub media_type: &'static str,
    pub schema: SchemaFn,
}

fn schema_of<T: ToSchema>(referenced: &mut Schemas) -> RefOr<Schema> {
    T::schemas(referenced);
    T::schema()
}

fn any_object(_: &mut Schemas) -> RefOr<Schema> {
    RefOr::T(Schema::Object(utoipa::openapi::schema::Object::new()))
}

fn binary(_: &mut Schemas) -> RefOr<Schema> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .build(),
    ))
}

fn text(_: &mut Schemas) -> RefOr<Schema> {
    String::schema()
}

fn query_parameters<T: IntoParams>() -> Vec<Parameter> {
    T::into_params(|| Some(ParameterIn::Query))
}

/// What the document says about a route besides its access.
#[derive(Clone, Copy, Debug)]
pub struct RouteDoc {
    pub summary: &'static str,
    /// The statuses of success; the first is the usual one.
    pub success: &'static [u16],
    pub body: Option<RequestBody>,
    /// Its query parameters, from the struct the handler parses them into.
    pub query: Option<fn() -> Vec<Parameter>>,
    /// The schema of its success body, from the type the handler answers
    /// with (every success status but 204 has this body).
    pub response: Option<SchemaFn>,
    /// Operations that a success response leads to, with the response
    /// field that fills their path parameter.
    pub links: &'static [Link],
    /// The success body's media types when it is not JSON (a stream, a
    /// file); empty for JSON.
    pub stream: &'static [&'static str],
}

/// An OpenAPI link: from a success response to another operation whose
/// path parameter `parameter` is the response's field `field`.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub method: &'static str,
    pub path: &'static str,
    pub parameter: &'static str,
    pub field: &'static str,
}

impl Link {
    /// A link to `method path` whose `{id}` is the response's `field` (a
    /// JSON pointer without its leading `/`).
    pub const fn to_id(method: &'static str, path: &'static str, field: &'static str) -> Self {
        Self { method, path, parameter: "id", field }
    }
}

impl RouteDoc {
    pub const fn new(summary: &'static str) -> Self {
        Self { summary, success: &[200], body: None, query: None, response: None, links: &[], stream: &[] }
    }
}

impl RouteRule {
    /// Documents the route: what it does.
    pub const fn doc(mut self, summary: &'static str) -> Self {
        self.doc.summary = summary;
        self
    }

    /// The statuses it answers with on success (200 unless said).
    pub const fn returns(mut self, success: &'static [u16]) -> Self {
        self.doc.success = success;
        self
    }

    /// Its JSON request body, parsed as `T`.
    pub const fn json<T: ToSchema>(mut self) -> Self {
        self.doc.body = Some(RequestBody { media_type: "application/json", schema: schema_of::<T> });
        self
    }

    /// Its success body: a `T` as JSON.
    pub const fn responds<T: ToSchema>(mut self) -> Self {
        self.doc.response = Some(reference_to::<T>);
        self
    }

    /// Operations its success response leads to (OpenAPI links).
    pub const fn links(mut self, links: &'static [Link]) -> Self {
        self.doc.links = links;
        self
    }

    /// Its query parameters, parsed as `T`.
    pub const fn query<T: IntoParams>(mut self) -> Self {
        self.doc.query = Some(query_parameters::<T>);
        self
    }

    /// A JSON request body without a fixed schema of its own here (an
    /// object validated by the handler).
    pub const fn json_object(mut self) -> Self {
        self.doc.body = Some(RequestBody { media_type: "application/json", schema: any_object });
        self
    }

    /// Its success body is a stream or a file of one of `media_types`
    /// (`text/event-stream`; `image/*` and `application/octet-stream`).
    pub const fn streams(mut self, media_types: &'static [&'static str]) -> Self {
        self.doc.stream = media_types;
        self
    }

    /// A request body of raw bytes (`application/octet-stream`; the handler
    /// reads what they are).
    pub const fn binary_body(mut self) -> Self {
        self.doc.body = Some(RequestBody { media_type: "application/octet-stream", schema: binary });
        self
    }

    /// A request body of another media type, as text.
    pub const fn text_body(mut self, media_type: &'static str) -> Self {
        self.doc.body = Some(RequestBody { media_type, schema: text });
        self
    }
}

/// Statuses any operation may answer with besides success, and why.
const ERRORS: &[(u16, &str)] = &[
    (400, "Malformed request: bad JSON, query or path parameter."),
    (401, "No valid credential (missing, unknown, expired or revoked)."),
    (403, "The caller's role or key scope does not allow this."),
    (404, "No such object in the caller's company."),
    (409, "Conflicts with the object's state, or a name already taken."),
    (422, "Well-formed but invalid: the error names the field."),
    (429, "Rate-limited; `Retry-After` says when to try again."),
    (503, "Overloaded or a dependency is down; `Retry-After` says when to try again."),
];

/// Statuses only an operation with a request body answers with.
const BODY_ERRORS: &[(u16, &str)] =
    &[(413, "The body is larger than the limit."), (415, "The body's media type is not the one required.")];

/// The document for `tables`: ingest's, the API's and [`ROUTES`] (the
/// document's own route), as the process serves them.
pub fn document(version: &str, tables: &[&[RouteRule]]) -> Value {
    let mut referenced = Vec::new();
    let error_schema = schema_of::<ErrorBody>(&mut referenced);
    let mut paths: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for rule in tables.iter().flat_map(|table| table.iter()) {
        let operation = operation(rule, &mut referenced);
        paths.entry(rule.path).or_default().insert(rule.method.to_lowercase(), operation);
    }
    let (events, webhooks) = events(&mut referenced);
    let mut schemas = events;
    schemas.insert(ErrorBody::name().into_owned(), to_value(error_schema));
    for (name, schema) in referenced {
        let schema = to_value(schema);
        let previous = schemas.insert(name.clone(), schema.clone());
        // Two types of one name would share (and garble) one schema: name
        // one of them apart (`#[schema(as = …)]`).
        debug_assert!(previous.is_none_or(|previous| previous == schema), "two schemas named {name}");
    }
    let mut responses = serde_json::Map::new();
    for (status, description) in ERRORS.iter().chain(BODY_ERRORS) {
        responses.insert(
            status.to_string(),
            json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            }),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard",
            "version": version,
            "description": "Support tickets in, triaged, matched and routed. Every error has the shape \
                            {\"error\": {\"code\", \"message\", \"field\"}}; lists page with `limit` and \
                            `next_cursor`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "webhooks": webhooks,
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A session token from `POST /v1/sessions`, or an API key (`sbk_…`).",
                },
            },
        },
    })
}

/// The event catalogue: a schema `<type>.v<version>` for each type's body
/// (`{"type", "timestamp", "data"}`, as webhooks and live updates send
/// it), and the webhook requests that carry them.
fn events(referenced: &mut Schemas) -> (serde_json::Map<String, Value>, serde_json::Map<String, Value>) {
    let mut schemas = serde_json::Map::new();
    let mut webhooks = serde_json::Map::new();
    let header = |name: &str, description: &str| json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    for kind in EventType::ALL {
        let name = format!("{kind}.v{}", kind.version());
        let data = to_value(kind.data_schema(referenced));
        schemas.insert(
            name.clone(),
            json!({
                "type": "object",
                "description": kind.summary(),
                "required": ["type", "timestamp", "data"],
                "properties": {
                    "type": {"const": kind.as_str()},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "data": data,
                },
            }),
        );
        webhooks.insert(
            kind.as_str().to_owned(),
            json!({"post": {
                "operationId": format!("webhook_{}", kind.as_str().replace('.', "_")),
                "summary": kind.summary(),
                "tags": ["webhooks"],
                "parameters": [
                    header("webhook-id", "The message's id: the same on every attempt, for receivers to drop repeats."),
                    header("webhook-timestamp", "When this attempt was signed, in seconds since the Unix epoch."),
                    header("webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one per secret."),
                ],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}},
                },
                "responses": {
                    "200": {"description": "Any 2xx acknowledges the message."},
                    "410": {"description": "Gone: the endpoint is disabled."},
                    "default": {"description": "Anything else is retried on the schedule (429 and 503 honour Retry-After)."},
                },
            }}),
        );
    }
    (schemas, webhooks)
}

fn operation(rule: &RouteRule, referenced: &mut Schemas) -> Value {
    let mut responses = serde_json::Map::new();
    let success_schema = match rule.doc.response {
        Some(schema) => to_value(schema(referenced)),
        None => json!({"type": "object"}),
    };
    let links: serde_json::Map<String, Value> = rule
        .doc
        .links
        .iter()
        .map(|link| {
            let target = operation_id(link.method, link.path);
            let parameters = json!({link.parameter: format!("$response.body#/{}", link.field)});
            (target.clone(), json!({"operationId": target, "parameters": parameters}))
        })
        .collect();
    for status in rule.doc.success {
        let mut response = match (status, rule.doc.stream) {
            (204, _) => json!({"description": "Done; no body."}),
            (101, _) => json!({"description": "Switching protocols (a WebSocket handshake)."}),
            (_, [_, ..]) => {
                let content: serde_json::Map<String, Value> = rule
                    .doc
                    .stream
                    .iter()
                    .map(|media_type| ((*media_type).to_owned(), json!({"schema": {"type": "string"}})))
                    .collect();
                json!({"description": "A stream or a file.", "content": content})
            }
            (_, []) => {
                json!({"description": "Success.", "content": {"application/json": {"schema": success_schema.clone()}}})
            }
        };
        if !matches!(status, 101 | 204) && !links.is_empty() {
            response["links"] = Value::Object(links.clone());
        }
        responses.insert(status.to_string(), response);
    }
    let errors = ERRORS.iter().chain(if rule.doc.body.is_some() { BODY_ERRORS } else { &[] });
    for (status, _) in errors {
        responses.insert(status.to_string(), json!({"$ref": format!("#/components/responses/{status}")}));
    }
    let mut parameters: Vec<Value> = rule
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if let Some(query) = rule.doc.query {
        parameters.extend(query().into_iter().map(|parameter| serde_json::to_value(parameter).unwrap_or(Value::Null)));
    }
    // A public route still checks a credential that is sent.
    let security = match rule.access {
        Access::Public => json!([{}, {"bearer": []}]),
        Access::Needs(_) => json!([{"bearer": []}]),
    };
    let tag = rule.path.split('/').nth(2).unwrap_or("other");
    let mut operation = json!({
        "operationId": operation_id(rule.method, rule.path),
        "summary": rule.doc.summary,
        "tags": [tag],
        "security": security,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = rule.doc.body {
        let schema = to_value((body.schema)(referenced));
        operation["requestBody"] = json!({"required": true, "content": {body.media_type: {"schema": schema}}});
    }
    operation
}

/// `post /v1/tickets/{id}/messages` → `post_tickets_id_messages`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_lowercase();
    for segment in path.split('/').skip(2).filter(|segment| !segment.is_empty()) {
        id.push('_');
        id.extend(segment.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()));
    }
    id
}

fn to_value(schema: RefOr<Schema>) -> Value {
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use switchboard_core::Permission;

    use super::*;

    #[test]
    fn every_rule_becomes_an_operation_with_its_errors_and_body() {
        const TABLE: &[RouteRule] = &[
            RouteRule::new("POST", "/v1/tickets/{id}/messages", Access::Needs(Permission::TicketsAct))
                .doc("Adds a message")
                .returns(&[201])
                .json::<switchboard_core::NewTicket>(),
            RouteRule::new("DELETE", "/v1/sessions/current", Access::Public).doc("Signs out").returns(&[204]),
        ];
        let document = document("1.0.0", &[TABLE]);
        let post = &document["paths"]["/v1/tickets/{id}/messages"]["post"];
        assert_eq!(post["operationId"], "post_tickets_id_messages");
        assert_eq!(post["parameters"][0]["name"], "id");
        assert!(post["responses"]["201"].is_object());
        assert!(post["responses"]["413"].is_object(), "a body can be too large");
        assert_eq!(post["security"], json!([{"bearer": []}]));
        let body = &post["requestBody"]["content"]["application/json"]["schema"];
        assert!(body["properties"]["title"].is_object(), "{body}");
        let delete = &document["paths"]["/v1/sessions/current"]["delete"];
        assert!(delete["responses"]["204"]["content"].is_null());
        assert!(delete["responses"]["413"].is_null(), "no body, no 413");
        assert!(document["components"]["schemas"]["ErrorBody"].is_object());
        assert!(document["components"]["schemas"]["NewRequester"].is_object(), "referenced schemas are included");
    }
}
