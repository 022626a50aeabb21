//! Every fixture of `tests/fixtures/email/` parsed, and the fields that
//! matter for it checked: who, to whom, threading, text, attachments, noise.

use switchboard_ingest::email::{InboundMail, Mailbox, Noise, ParseError, parse};
use time::macros::datetime;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/email");

fn raw(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"))
}

fn fixture(name: &str) -> InboundMail {
    parse(&raw(name)).unwrap_or_else(|error| panic!("parsing {name}: {error}"))
}

/// The binary files the fixtures carry, as written next to them.
fn file(name: &str) -> Vec<u8> {
    raw(&format!("files/{name}"))
}

fn mailbox(email: &str, name: Option<&str>) -> Option<Mailbox> {
    Some(Mailbox { email: email.to_owned(), name: name.map(str::to_owned) })
}

const TICKET_ROOT: &str = "ticket.0190f0c0e6a97c5a8e0f1b2c3d4e5f60@mail.switchboard.example";

#[test]
fn plain_text_message() {
    let mail = fixture("plain-text.eml");
    assert_eq!(mail.subject, r#"Export to CSV fails with "permission denied""#);
    assert_eq!(mail.from, mailbox("bob.baker@customer.example", Some("Bob Baker")));
    // To, then Cc, then Delivered-To; the repeated support address once.
    assert_eq!(mail.recipients, ["support@acme.example", "carol.chen@customer.example"]);
    assert_eq!(mail.message_id.as_deref(), Some("CAF9xq2b8kLm=Qp3r@mail.customer.example"));
    assert_eq!(mail.date, Some(datetime!(2026-12-07 10:13:58 +01:00)));
    assert!(mail.body.ends_with("Bob\n\n-- \nBob Baker\nHead of Operations, Customer Ltd\n+44 20 7946 0000"));
    assert_eq!(
        mail.reply_text,
        "Hello,\n\nsince this morning the CSV export on the Reports page fails with\n\
         \"permission denied\" for every user in our team. It worked on Friday.\n\n\
         Steps:\n1. Open Reports > Monthly\n2. Click \"Export to CSV\"\n\n\
         Could you have a look?\n\nThanks,\nBob"
    );
    assert!(mail.attachments.is_empty());
    assert_eq!(mail.noise, None);
    assert!(!mail.suppress_auto_reply);
}

#[test]
fn alternative_prefers_the_plain_text_part() {
    let mail = fixture("alternative.eml");
    // An encoded word followed by plain text in the display name.
    assert_eq!(mail.from, mailbox("zoe@customer.example", Some("Zoë Dupont")));
    assert_eq!(mail.recipients, ["billing@acme.example", "support@acme.example"]);
    assert!(!mail.body.contains("<p>"), "the HTML alternative was used: {}", mail.body);
    // The quoted-printable soft line break is joined, the UTF-8 decoded.
    assert!(mail.body.contains("from the December invoice onwards, if that is still possible."));
    assert!(mail.body.ends_with("Merci et bonne journée,\nZoë"));
    assert_eq!(mail.reply_text, mail.body);
    assert!(mail.attachments.is_empty());
}

#[test]
fn html_only_message_is_converted_to_text() {
    let mail = fixture("html-only.eml");
    assert_eq!(mail.subject, "Order #4411 not synced");
    assert_eq!(mail.date, Some(datetime!(2026-12-05 11:02:45 -05:00)));
    assert_eq!(
        mail.body,
        "Order #4411 is not synced\n\n\
         Hello ACME team,\n\n\
         our order #4411 (total € 1 249,00) does not show up in the orders list \
         (https://app.acme.example/orders?id=4411&view=full). We checked:\n\n\
         - the webhook log – no errors\n\
         - the API key – still valid\n\n\
         Dana Okafor\n\
         dana@shop.example"
    );
}

#[test]
fn latin1_body_and_encoded_headers_are_decoded() {
    let mail = fixture("latin1.eml");
    assert_eq!(mail.subject, "AW: Rechnung für März fehlt");
    assert_eq!(mail.from, mailbox("juergen.weiss@kunde.example", Some("Jürgen Weiß")));
    assert_eq!(
        mail.in_reply_to,
        ["7c2d9e1f0a3b4c5d6e7f8091a2b3c4d5.0190f0c0e6a97c5a8e0f1b2c3d4e5f60@mail.switchboard.example"]
    );
    assert!(mail.body.contains("die Rechnung für März fehlt weiterhin"));
    // The German attribution and the quote under it are gone.
    assert_eq!(
        mail.reply_text,
        "Guten Tag,\n\ndie Rechnung für März fehlt weiterhin in unserem Kundenkonto.\n\
         Können Sie sie bitte erneut senden?\n\nMit freundlichen Grüßen\nJürgen Weiß"
    );
}

#[test]
fn shift_jis_base64_body_is_decoded_and_mobile_footer_dropped() {
    let mail = fixture("shift-jis-base64.eml");
    assert_eq!(mail.subject, "ログインできません");
    assert!(mail.body.starts_with("こんにちは、\n\n昨日からログインできません。"));
    assert!(mail.body.ends_with("佐藤\n\nSent from my iPhone"));
    assert_eq!(
        mail.reply_text,
        "こんにちは、\n\n昨日からログインできません。\nエラーメッセージ: \"token expired\"\n\nよろしくお願いします。\n佐藤"
    );
}

#[test]
fn inline_image_of_a_related_body_is_an_inline_attachment() {
    let mail = fixture("inline-image.eml");
    assert!(mail.body.starts_with("Hi, the logo on our invoices looks wrong"));
    assert_eq!(mail.attachments.len(), 1);
    let image = &mail.attachments[0];
    assert_eq!(image.filename, "image001.png");
    assert_eq!(image.declared_type, "image/png");
    assert!(image.inline);
    assert_eq!(image.content_id.as_deref(), Some("image001.png@01DB4A2C.5E3F1A60"));
    assert_eq!(image.content, file("logo.png"));
    assert!(image.content.starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[test]
fn pdf_and_png_attachments_are_byte_exact() {
    let mail = fixture("attachments.eml");
    assert!(mail.body.starts_with("Hello,\n\nthe invoice total does not match the order"));
    let summary: Vec<(&str, &str, bool)> = mail
        .attachments
        .iter()
        .map(|file| (file.filename.as_str(), file.declared_type.as_str(), file.inline))
        .collect();
    assert_eq!(
        summary,
        [
            // RFC 2231 encoded file name.
            ("Rechnung für März.pdf", "application/pdf", false),
            ("Screen Shot 2026-12-07 at 10.02.11.png", "image/png", false),
        ]
    );
    assert_eq!(mail.attachments[0].content, file("invoice-2026-1207.pdf"));
    assert!(mail.attachments[0].content.starts_with(b"%PDF-1.4"));
    assert_eq!(mail.attachments[1].content, file("screenshot.png"));
    assert!(mail.attachments.iter().all(|file| file.content_id.is_none()));
}

#[test]
fn inline_forward_keeps_the_forwarded_message_but_not_the_forwarders_signature() {
    let mail = fixture("forward-inline.eml");
    assert_eq!(mail.subject, "Fwd: Refund for order 8812");
    assert!(mail.body.contains("Account Manager, Nordic Retail AB"));
    assert_eq!(
        mail.reply_text,
        "Hi support,\n\ncan you help this customer? She wrote to me directly.\n\n\
         ---------- Forwarded message ---------\n\
         From: Maja Berg <maja.berg@nordicretail.example>\n\
         Date: Fri, 4 Dec 2026 at 17:42\n\
         Subject: Refund for order 8812\n\
         To: Erik Lund <erik.lund@nordicretail.example>\n\n\
         Hej Erik,\n\nthe refund for order 8812 still has not arrived. Could you check?\n\nMaja"
    );
}

#[test]
fn attached_forward_is_an_eml_attachment_with_the_original_bytes() {
    let raw = raw("forward-attached.eml");
    let mail = parse(&raw).expect("parses");
    assert_eq!(mail.body, "Forwarding the customer's complaint as an attachment.\n\nErik");
    assert_eq!(mail.attachments.len(), 1);
    let forwarded = &mail.attachments[0];
    // Named after the forwarded message's subject.
    assert_eq!(forwarded.filename, "Delivery damaged.eml");
    assert_eq!(forwarded.declared_type, "message/rfc822");
    assert!(!forwarded.inline);

    let text = String::from_utf8(raw.clone()).expect("fixture is UTF-8");
    let start = text.find("From: Maja Berg").expect("nested message in fixture");
    let end = text.rfind("\r\n--------------9D1F2E3A4B5C6D7E8F901A2B--").expect("closing delimiter");
    assert_eq!(forwarded.content, raw[start..end]);

    let nested = parse(&forwarded.content).expect("the attachment is a message itself");
    assert_eq!(nested.subject, "Delivery damaged");
    assert_eq!(nested.body, "Hej Erik,\n\nthe parcel for order 8813 arrived with a broken lid.\n\nMaja");
}

#[test]
fn gmail_reply_threads_and_loses_its_quote() {
    let mail = fixture("reply-gmail.eml");
    let ours = "3b1f7a2c9d0e4f5a8b6c1d2e3f4a5b6c.0190f0c0e6a97c5a8e0f1b2c3d4e5f60@mail.switchboard.example";
    assert_eq!(mail.in_reply_to, [ours]);
    assert_eq!(mail.references, [TICKET_ROOT, ours]);
    assert_eq!(mail.recipients, ["support+1207@acme.example"]);
    assert_eq!(mail.subject, "Re: [ACME Support] Export to CSV fails (#1207)");
    // The attribution is folded over two lines, as Gmail writes it.
    assert_eq!(
        mail.reply_text,
        "Thanks, that worked! The export runs again.\n\nOne more question: can we schedule it weekly?"
    );
    assert!(mail.body.contains("> we fixed the permissions on our side."));
}

#[test]
fn outlook_reply_threads_and_loses_the_header_block() {
    let mail = fixture("reply-outlook.eml");
    let ours = "8e4a1c0b2d3f4e5a9b8c7d6e5f4a3b2c.0190f0c0e6a97c5a8e0f1b2c3d4e5f60@mail.switchboard.example";
    assert_eq!(mail.in_reply_to, [ours]);
    assert_eq!(mail.references, [TICKET_ROOT, ours]);
    assert_eq!(mail.from, mailbox("zoe@customer.example", Some("Zoë Dupont")));
    // The base64 text part is preferred to the HTML one; its CRLFs become LFs.
    assert!(!mail.body.contains('\r'));
    assert_eq!(
        mail.reply_text,
        "Hi Ann,\n\nThanks for the quick change. Please also update the VAT number to FR 12 345678901.\n\n\
         Kind regards,\nZoë Dupont\nCustomer SARL"
    );
}

#[test]
fn out_of_office_is_auto_submitted_noise() {
    let mail = fixture("out-of-office.eml");
    assert_eq!(mail.noise, Some(Noise::AutoSubmitted));
    assert_eq!(mail.noise.map(Noise::as_str), Some("auto_submitted"));
    assert!(mail.suppress_auto_reply);
    assert_eq!(mail.references, [TICKET_ROOT]);
}

#[test]
fn vacation_reply_with_only_x_autoreply_is_noise() {
    let mail = fixture("vacation-x-autoreply.eml");
    assert_eq!(mail.noise, Some(Noise::AutoReplyHeader));
    assert_eq!(mail.from, mailbox("lars@shop.example", None));
    assert_eq!(mail.message_id.as_deref(), Some("202612071431.vac.lars@shop.example"));
}

#[test]
fn bounce_is_a_report_from_the_mailer_daemon() {
    let mail = fixture("bounce.eml");
    assert_eq!(mail.noise, Some(Noise::Report));
    assert_eq!(mail.from, mailbox("mailer-daemon@mx.customer.example", Some("Mail Delivery System")));
    assert!(mail.body.starts_with("This is the mail system at host mx.customer.example."));
    let summary: Vec<(&str, &str)> =
        mail.attachments.iter().map(|file| (file.filename.as_str(), file.declared_type.as_str())).collect();
    assert_eq!(summary, [("attachment-1.txt", "message/delivery-status"), ("attachment-2.txt", "text/rfc822-headers")]);
    let headers = String::from_utf8_lossy(&mail.attachments[1].content);
    assert!(headers.contains("Subject: [ACME Support] Your ticket was resolved (#1201)"));
}

#[test]
fn mailing_list_message_is_noise() {
    let mail = fixture("mailing-list.eml");
    assert_eq!(mail.noise, Some(Noise::MailingList));
    assert_eq!(mail.reply_to, mailbox("acme-users@lists.example.org", None));
    assert_eq!(mail.from, mailbox("acme-users@lists.example.org", Some("Petra Novak via acme-users")));
}

#[test]
fn message_with_only_an_attachment_has_empty_text() {
    let mail = fixture("attachment-only.eml");
    assert_eq!(mail.body, "");
    assert_eq!(mail.reply_text, "");
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].filename, "scan_20261207_101500.pdf");
    assert_eq!(mail.attachments[0].content, file("invoice-2026-1207.pdf"));
}

#[test]
fn only_real_customer_mail_is_free_of_noise() {
    let customer_mail = [
        "plain-text.eml",
        "alternative.eml",
        "html-only.eml",
        "latin1.eml",
        "shift-jis-base64.eml",
        "inline-image.eml",
        "attachments.eml",
        "forward-inline.eml",
        "forward-attached.eml",
        "reply-gmail.eml",
        "reply-outlook.eml",
        "attachment-only.eml",
    ];
    for name in customer_mail {
        assert_eq!(fixture(name).noise, None, "{name}");
    }
}

#[test]
fn mail_from_our_own_address_is_a_loop() {
    let mut mail = fixture("plain-text.eml");
    let own = ["support@acme.example", "notifications@mail.switchboard.example"];
    assert_eq!(mail.noise_given(&own), None);
    mail.from = mailbox("notifications@mail.switchboard.example", Some("ACME Support"));
    assert_eq!(mail.noise_given(&own), Some(Noise::OwnAddress));
    // A loop is reported as a loop even when the headers also say automatic.
    let mut bounce = fixture("out-of-office.eml");
    bounce.from = mailbox("support@acme.example", None);
    assert_eq!(bounce.noise_given(&own), Some(Noise::OwnAddress));
    assert_eq!(bounce.noise_given(&[]), Some(Noise::AutoSubmitted));
}

#[test]
fn what_is_not_a_mail_is_refused_with_a_reason() {
    assert_eq!(parse(b""), Err(ParseError::NotAMessage));
    assert_eq!(parse(b"just some text\nwithout any header\n"), Err(ParseError::NotAMessage));
    assert_eq!(parse(b"Subject: hello\nTo: support@acme.example\n\nbody\n"), Err(ParseError::NoFrom));
    let mail =
        parse(b"From: MAILER-DAEMON\nSubject: Returned mail\n\nbody\n").expect("a From without an address parses");
    assert_eq!(mail.from, None);
    assert_eq!(mail.noise, Some(Noise::SystemSender));
}

#[test]
fn missing_subject_and_bad_date_degrade_gracefully() {
    let mail = parse(b"From: a@customer.example\nDate: Mon, 31 Feb 2026 25:61:00 +0000\n\nhi\n").expect("parses");
    assert_eq!(mail.subject, "");
    assert_eq!(mail.date, None);
    assert_eq!(mail.body, "hi");
    assert_eq!(mail.message_id, None);
}
