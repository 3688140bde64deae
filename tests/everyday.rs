//! Short everyday mail is never held or rejected: with a handful of words and no named cue or
//! link there is too little evidence, whatever the model's probabilities say.

use sendguard::{Classifier, Verdict};

#[test]
fn short_everyday_messages_are_at_most_tagged() {
    let c = Classifier::load_default().expect("the shipped model loads");
    for body in [
        "Hello, how are you? Long time no see.",
        "Dear friend, see the site and call me.",
        "Can you call me when you have a minute?",
        "Hi Tom, see you tomorrow at 10. Anna",
        "ok",
    ] {
        let raw = format!("From: Anna <anna@acme-logistics.de>\nTo: tom@northwind.io\nSubject: quick note\n\n{body}\n");
        let v = c.score(raw.as_bytes()).expect("scored");
        assert!(
            v.decision.verdict <= Verdict::Tag,
            "{body:?} got {:?}",
            v.decision.verdict
        );
    }
}

#[test]
fn a_short_scam_with_a_free_mail_contact_is_still_held() {
    let c = Classifier::load_default().expect("the shipped model loads");
    let raw =
        "From: Anna <anna@acme-logistics.de>\nTo: tom@northwind.io\nSubject: Urgent business\n\n\
I have a confidential business proposal of US$12,500,000.00 for you. Reply to my private email \
barrister.john.mensah@gmail.com for details.\n";
    let v = c.score(raw.as_bytes()).expect("scored");
    assert!(v.decision.verdict >= Verdict::Hold, "{:?}", v.decision);
}
