//! How a city's match list travels on `Matches.Subscribe`: split into messages of bounded size
//! at subject boundaries by the hub ([`split_match_list`] for a whole list,
//! [`split_match_update`] for an update of some subjects) and put back together by the node
//! ([`MatchListAssembler`]).
//!
//! A city's list grows with its records (50,000 records × 20 matches is about a million
//! matches, hundreds of MB), so one message per list would exceed any sane message limit.
//! Every message of a list but the last carries a non-empty `next_page_token`; the last one
//! carries an empty token, and only then is the list complete. A subject's matches are never
//! split across messages. An update's messages all set `update` and name the subjects they
//! replace in `subjects`, so a subject that lost every match is named with none.

use crate::pb;

/// Target size of one message of a split list, in encoded bytes. A subject whose matches alone
/// are larger still goes whole, in a message of its own (at most 100 matches, far below the
/// 64 MiB limits of both ends).
pub const MATCH_LIST_CHUNK_BYTES: usize = 1 << 20;

/// Splits `matches` (ordered by subject) into the messages of a whole list of about
/// `max_bytes` each, never splitting a subject. Always at least one message; only the last
/// has an empty token.
pub fn split_match_list(matches: Vec<pb::Match>, max_bytes: usize) -> Vec<pb::MatchList> {
    let mut groups: Vec<(Option<pb::SummaryKey>, Vec<pb::Match>)> = Vec::new();
    for m in matches {
        match groups.last_mut() {
            Some((subject, group)) if *subject == m.subject => group.push(m),
            _ => groups.push((m.subject.clone(), vec![m])),
        }
    }
    split(groups, false, max_bytes)
}

/// Splits an update, the new matches of each of some subjects (in key order; a subject with
/// none has lost all of its matches), into messages of about `max_bytes` each, never
/// splitting a subject. Always at least one message; only the last has an empty token.
pub fn split_match_update(
    subjects: Vec<(pb::SummaryKey, Vec<pb::Match>)>,
    max_bytes: usize,
) -> Vec<pb::MatchList> {
    split(subjects.into_iter().map(|(k, ms)| (Some(k), ms)).collect(), true, max_bytes)
}

/// The messages of one list of `groups` (whole subjects), named in `subjects` if `update`.
fn split(
    groups: Vec<(Option<pb::SummaryKey>, Vec<pb::Match>)>,
    update: bool,
    max_bytes: usize,
) -> Vec<pb::MatchList> {
    use prost::Message as _;
    let mut out = Vec::new();
    let mut msg = pb::MatchList { update, ..Default::default() };
    let mut msg_bytes = 0;
    let count = groups.len();
    for (i, (subject, matches)) in groups.into_iter().enumerate() {
        // Room for the field tag and length prefix too.
        msg_bytes += matches.iter().map(|m| m.encoded_len() + 4).sum::<usize>();
        if update && let Some(k) = &subject {
            msg_bytes += k.encoded_len() + 4;
            msg.subjects.push(k.clone());
        }
        msg.matches.extend(matches);
        if msg_bytes >= max_bytes && i + 1 < count {
            let token = subject.map_or_else(String::new, |k| format!("{}:{}", k.city, k.pseudonym));
            // Never empty, even for a (malformed) match without a subject.
            msg.next_page_token = format!("after:{token}");
            out.push(std::mem::replace(&mut msg, pb::MatchList { update, ..Default::default() }));
            msg_bytes = 0;
        }
    }
    out.push(msg);
    out
}

/// A list as the node applies it, put back together from its messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Pushed {
    /// The whole list: it replaces what the node holds.
    Whole(Vec<pb::Match>),
    /// New matches of the named subjects only, each with its matches (none if it lost them
    /// all), in the order they came.
    Update(Vec<(pb::SummaryKey, Vec<pb::Match>)>),
}

/// A pushed list that cannot be applied; the stream is dropped and subscribed afresh, which
/// starts with a whole list.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssemblyError {
    /// The list grew past the assembler's bound without being completed.
    #[error(
        "a pushed match list passed {max} matches without its last message; the stream is dropped, resubscribe"
    )]
    TooLong {
        /// The bound.
        max: usize,
    },
    /// Messages of one list disagree on whether it is an update.
    #[error(
        "a pushed match list mixed whole-list and update messages; the stream is dropped, resubscribe"
    )]
    Mixed,
    /// An update carries a match whose subject it does not name.
    #[error(
        "a pushed update carries a match of {subject}, which it does not name among the records it replaces; the stream is dropped, resubscribe"
    )]
    UnnamedSubject {
        /// The subject, as `city:pseudonym`.
        subject: String,
    },
}

/// Puts a list split by [`split_match_list`] or [`split_match_update`] back together.
#[derive(Debug)]
pub struct MatchListAssembler {
    pending: Vec<pb::Match>,
    subjects: Vec<pb::SummaryKey>,
    /// Whether the list under way is an update (`None` between lists).
    update: Option<bool>,
    max_matches: usize,
}

impl MatchListAssembler {
    /// An assembler that refuses lists of more than `max_matches` matches.
    pub fn new(max_matches: usize) -> Self {
        MatchListAssembler { pending: Vec::new(), subjects: Vec::new(), update: None, max_matches }
    }

    /// Takes the next message; returns the whole list or update when `msg` completes one.
    /// After an error the assembler starts afresh.
    pub fn push(&mut self, msg: pb::MatchList) -> Result<Option<Pushed>, AssemblyError> {
        let checked = self.check(&msg);
        if let Err(e) = checked {
            *self = MatchListAssembler::new(self.max_matches);
            return Err(e);
        }
        self.update = Some(msg.update);
        self.pending.extend(msg.matches);
        self.subjects.extend(msg.subjects);
        if !msg.next_page_token.is_empty() {
            return Ok(None);
        }
        let matches = std::mem::take(&mut self.pending);
        let subjects = std::mem::take(&mut self.subjects);
        if self.update.take() != Some(true) {
            return Ok(Some(Pushed::Whole(matches)));
        }
        let mut groups: Vec<(pb::SummaryKey, Vec<pb::Match>)> =
            subjects.into_iter().map(|k| (k, Vec::new())).collect();
        let mut at = std::collections::HashMap::with_capacity(groups.len());
        for (i, (k, _)) in groups.iter().enumerate() {
            at.insert((k.city.clone(), k.pseudonym.clone()), i);
        }
        for m in matches {
            let subject = m.subject.as_ref().map(|k| (k.city.clone(), k.pseudonym.clone()));
            let Some(&i) = subject.as_ref().and_then(|s| at.get(s)) else {
                let subject = subject.map_or_else(|| "(none)".into(), |(c, p)| format!("{c}:{p}"));
                return Err(AssemblyError::UnnamedSubject { subject });
            };
            groups[i].1.push(m);
        }
        Ok(Some(Pushed::Update(groups)))
    }

    fn check(&self, msg: &pb::MatchList) -> Result<(), AssemblyError> {
        if self.pending.len() + msg.matches.len() > self.max_matches {
            return Err(AssemblyError::TooLong { max: self.max_matches });
        }
        if self.update.is_some_and(|u| u != msg.update) {
            return Err(AssemblyError::Mixed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    /// `per_subject` matches for each of `subjects` subjects, with explanations of some size.
    fn list(subjects: usize, per_subject: usize) -> Vec<pb::Match> {
        let key = |city: &str, n: usize| pb::SummaryKey {
            city: city.into(),
            pseudonym: format!("{n:032x}"),
        };
        (0..subjects)
            .flat_map(|s| {
                (0..per_subject).map(move |c| pb::Match {
                    subject: Some(key("421200", s)),
                    subject_kind: pb::Kind::Demand as i32,
                    counterpart: Some(key("440300", s * 1000 + c)),
                    counterpart_kind: pb::Kind::Achievement as i32,
                    score: 1.0 / (c + 1) as f32,
                    explanation: Some(pb::Explanation {
                        shared_terms: vec!["锂电池".into(), "隔膜".into(), "电解液".into()],
                        ..Default::default()
                    }),
                })
            })
            .collect()
    }

    fn subjects_of(msg: &pb::MatchList) -> Vec<Option<pb::SummaryKey>> {
        let mut out: Vec<Option<pb::SummaryKey>> =
            msg.matches.iter().map(|m| m.subject.clone()).collect();
        out.dedup();
        out
    }

    #[test]
    fn a_long_list_goes_in_bounded_messages_that_reassemble_to_it() {
        let full = list(500, 20);
        let max = 16 << 10;
        let msgs = split_match_list(full.clone(), max);
        assert!(msgs.len() > 10, "{} messages", msgs.len());
        let one_subject = full[..20].iter().map(|m| m.encoded_len() + 4).sum::<usize>();
        let mut seen = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let last = i == msgs.len() - 1;
            assert_eq!(m.next_page_token.is_empty(), last, "message {i}");
            // Closed at the first subject boundary at or past the bound.
            assert!(m.encoded_len() < max + one_subject + 16, "message {i}: {}", m.encoded_len());
            // No subject is split across messages.
            for s in subjects_of(m) {
                assert!(!seen.contains(&s), "subject {s:?} split");
                seen.push(s);
            }
        }
        let mut asm = MatchListAssembler::new(usize::MAX);
        let mut done = Vec::new();
        for m in msgs {
            done.extend(asm.push(m).unwrap());
        }
        assert_eq!(done, vec![Pushed::Whole(full)]);
    }

    #[test]
    fn a_short_or_empty_list_is_one_message() {
        for full in [Vec::new(), list(3, 5)] {
            let msgs = split_match_list(full.clone(), MATCH_LIST_CHUNK_BYTES);
            assert_eq!(msgs, vec![pb::MatchList { matches: full, ..Default::default() }]);
        }
    }

    #[test]
    fn a_subject_larger_than_the_bound_goes_whole() {
        let full = list(3, 50);
        let msgs = split_match_list(full.clone(), 100);
        assert_eq!(msgs.len(), 3);
        assert!(msgs.iter().all(|m| m.matches.len() == 50 && subjects_of(m).len() == 1));
    }

    #[test]
    fn only_a_completed_list_is_handed_out_and_an_endless_one_is_refused() {
        let msgs = split_match_list(list(100, 10), 4 << 10);
        assert!(msgs.len() > 2);
        let mut asm = MatchListAssembler::new(10_000);
        for m in &msgs[..msgs.len() - 1] {
            assert_eq!(asm.push(m.clone()), Ok(None));
        }
        let Some(Pushed::Whole(whole)) = asm.push(msgs[msgs.len() - 1].clone()).unwrap() else {
            panic!("a whole list")
        };
        assert_eq!(whole.len(), 1000);

        // A stream that never ends its list is cut off at the bound, and starts afresh.
        let mut asm = MatchListAssembler::new(150);
        let mut results = msgs.iter().map(|m| asm.push(m.clone()));
        assert!(results.by_ref().take_while(Result::is_ok).count() < msgs.len());
        assert_eq!(asm.pending.len(), 0);
    }

    /// The subjects of `list(subjects, per_subject)`, each with its matches, plus `lost`
    /// subjects that lost every match.
    fn update(
        subjects: usize,
        per_subject: usize,
        lost: usize,
    ) -> Vec<(pb::SummaryKey, Vec<pb::Match>)> {
        let mut groups: Vec<(pb::SummaryKey, Vec<pb::Match>)> = Vec::new();
        for m in list(subjects, per_subject) {
            match groups.last_mut() {
                Some((k, ms)) if Some(&*k) == m.subject.as_ref() => ms.push(m),
                _ => groups.push((m.subject.clone().unwrap(), vec![m])),
            }
        }
        for n in 0..lost {
            let key = pb::SummaryKey { city: "421200".into(), pseudonym: format!("lost{n:028x}") };
            groups.push((key, Vec::new()));
        }
        groups
    }

    #[test]
    fn an_update_names_its_subjects_and_reassembles_with_those_that_lost_every_match() {
        let full = update(400, 20, 300);
        let msgs = split_match_update(full.clone(), 16 << 10);
        assert!(msgs.len() > 10, "{} messages", msgs.len());
        let mut named = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            assert!(m.update, "message {i} is part of an update");
            assert_eq!(m.next_page_token.is_empty(), i == msgs.len() - 1, "message {i}");
            // Every match of a message is of a subject the message itself names.
            for s in subjects_of(m) {
                assert!(m.subjects.contains(s.as_ref().unwrap()), "message {i}: {s:?} unnamed");
            }
            named.extend(m.subjects.iter().cloned());
        }
        assert_eq!(named, full.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
        // Subjects with no match left still cost bytes: they spread over several messages too.
        assert!(msgs.iter().filter(|m| m.matches.is_empty() && !m.subjects.is_empty()).count() > 0);

        let mut asm = MatchListAssembler::new(usize::MAX);
        let mut done = Vec::new();
        for m in msgs {
            done.extend(asm.push(m).unwrap());
        }
        assert_eq!(done, vec![Pushed::Update(full)]);
        // A one-message update, and the whole list after it.
        let small = update(2, 3, 1);
        let msgs = split_match_update(small.clone(), MATCH_LIST_CHUNK_BYTES);
        assert_eq!(msgs.len(), 1);
        assert_eq!(asm.push(msgs[0].clone()), Ok(Some(Pushed::Update(small))));
        let whole = split_match_list(list(2, 3), MATCH_LIST_CHUNK_BYTES);
        assert_eq!(asm.push(whole[0].clone()), Ok(Some(Pushed::Whole(list(2, 3)))));
    }

    #[test]
    fn a_list_that_mixes_kinds_or_carries_an_unnamed_subject_is_refused() {
        let mut asm = MatchListAssembler::new(usize::MAX);
        let update_msgs = split_match_update(update(100, 10, 0), 4 << 10);
        let whole_msgs = split_match_list(list(100, 10), 4 << 10);
        assert_eq!(asm.push(update_msgs[0].clone()), Ok(None));
        assert_eq!(asm.push(whole_msgs[1].clone()), Err(AssemblyError::Mixed));
        // Afresh after the error: a whole list goes through.
        let mut got = None;
        for m in &whole_msgs {
            got = asm.push(m.clone()).unwrap();
        }
        assert_eq!(got, Some(Pushed::Whole(list(100, 10))));

        let mut bad = split_match_update(update(3, 2, 0), MATCH_LIST_CHUNK_BYTES).remove(0);
        bad.subjects.remove(1);
        let err = asm.push(bad).unwrap_err();
        assert!(
            matches!(&err, AssemblyError::UnnamedSubject { subject } if subject.starts_with("421200:")),
            "{err}"
        );
        assert!(err.to_string().contains("resubscribe"), "{err}");
    }
}
