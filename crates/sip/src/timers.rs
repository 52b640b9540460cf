//! One timer table for the whole user agent, keyed by what each timer is for.
//!
//! Transaction timers keep their RFC 3261 letters (`Timer::A` …); the user agent's own timers
//! are named after the rule they implement. The next wake-up is always the minimum deadline.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::leg::LegId;
use crate::registration::AccountId;

/// Internal id of a transaction, so timers can be ordered without hashing sipx's keys.
pub(crate) type TxId = u64;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerId {
    /// A sipx transaction timer (RFC 3261 §17), by index into `sipx_sip::Timer::ALL`.
    Transaction(TxId, u8),
    /// RFC 3261 §13.3.1.4: the UAS core retransmits its 2xx until the ACK arrives.
    Retransmit2xx(LegId),
    /// RFC 3261 §13.3.1.4: no ACK within 64·T1 ends the dialog with a BYE.
    AckTimeout(LegId),
    /// A UAC INVITE that was answered provisionally but never finally: give up and CANCEL.
    RingTimeout(LegId),
    /// RFC 3261 §14.1: retry a re-INVITE refused with 491 after a random pause.
    ReInviteRetry(LegId),
    /// RFC 3261 §10.2.4: refresh a registration before it expires (or retry a failed one).
    RegisterRefresh(AccountId),
    /// A BYE or CANCEL that got no answer: forget the leg anyway.
    LegCleanup(LegId),
    /// RFC 3262 §3: the UAS retransmits a reliable provisional response until its PRACK.
    Retransmit1xx(LegId),
    /// RFC 3262 §3: no PRACK within 64·T1: the INVITE is refused.
    PrackTimeout(LegId),
    /// RFC 4028 §10: the refresher refreshes the session at half its interval.
    SessionRefresh(LegId),
    /// RFC 4028 §10: no refresh by the interval less min(32 s, a third): BYE.
    SessionExpiry(LegId),
    /// The implicit subscription of our REFER, outliving its leg, runs out (RFC 6665 §4.1.3).
    SubscriptionEnd(LegId),
    /// RFC 6665 §4.1.2.1: refresh a subscription before it runs out, retry a refused one, or
    /// forget one whose unsubscribe went unanswered.
    SubscribeRefresh(crate::subscription::SubscriptionId),
}

/// Deadlines by id, and ids by deadline: one table per state machine, keyed by an enum that
/// names what each timer is for (the user agent's [`TimerId`] here; the engine has its own).
#[derive(Debug)]
pub struct TimerTable<K> {
    by_deadline: BTreeSet<(Instant, K)>,
    by_id: HashMap<K, Instant>,
}

impl<K> Default for TimerTable<K> {
    fn default() -> Self {
        Self {
            by_deadline: BTreeSet::new(),
            by_id: HashMap::new(),
        }
    }
}

impl<K: Copy + Ord + std::hash::Hash> TimerTable<K> {
    /// Arms (or re-arms) a timer.
    pub fn set(&mut self, id: K, at: Instant) {
        if let Some(old) = self.by_id.insert(id, at) {
            self.by_deadline.remove(&(old, id));
        }
        self.by_deadline.insert((at, id));
    }

    /// Disarms a timer if armed.
    pub fn clear(&mut self, id: K) {
        if let Some(old) = self.by_id.remove(&id) {
            self.by_deadline.remove(&(old, id));
        }
    }

    /// Whether a timer is armed.
    pub fn is_set(&self, id: K) -> bool {
        self.by_id.contains_key(&id)
    }

    /// When a timer is due, if it is armed.
    pub fn deadline(&self, id: K) -> Option<Instant> {
        self.by_id.get(&id).copied()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    /// Removes and returns one timer due at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        self.pop_due_at(now).map(|(_, id)| id)
    }

    /// Like [`TimerTable::pop_due`], with the deadline it was armed for.
    pub fn pop_due_at(&mut self, now: Instant) -> Option<(Instant, K)> {
        let &(at, id) = self.by_deadline.first()?;
        if at > now {
            return None;
        }
        self.by_deadline.remove(&(at, id));
        self.by_id.remove(&id);
        Some((at, id))
    }

    /// How many timers are armed.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl TimerTable<TimerId> {
    /// Clears every transaction timer of one transaction.
    pub(crate) fn clear_transaction(&mut self, tx: TxId) {
        for index in 0..sipx_sip::Timer::ALL.len() {
            self.clear(TimerId::Transaction(tx, index as u8));
        }
    }
}

/// The index of a sipx timer in `Timer::ALL`, so it can live in an ordered key.
pub(crate) fn timer_index(timer: sipx_sip::Timer) -> u8 {
    sipx_sip::Timer::ALL
        .iter()
        .position(|t| *t == timer)
        .map_or(0, |i| i as u8)
}

/// The sipx timer at an index of `Timer::ALL`.
pub(crate) fn timer_at(index: u8) -> Option<sipx_sip::Timer> {
    sipx_sip::Timer::ALL.get(usize::from(index)).copied()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an arbitrary epoch for virtual time
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn next_is_the_earliest_deadline_and_rearming_moves_it() {
        let t0 = Instant::now();
        let mut table = TimerTable::<TimerId>::default();
        table.set(TimerId::RingTimeout(LegId(1)), t0 + Duration::from_secs(5));
        table.set(TimerId::RingTimeout(LegId(2)), t0 + Duration::from_secs(2));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(2)));
        table.set(TimerId::RingTimeout(LegId(2)), t0 + Duration::from_secs(9));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(table.pop_due(t0 + Duration::from_secs(4)), None);
        assert_eq!(
            table.pop_due(t0 + Duration::from_secs(5)),
            Some(TimerId::RingTimeout(LegId(1)))
        );
        table.clear(TimerId::RingTimeout(LegId(2)));
        assert_eq!(table.next(), None);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn every_sipx_timer_round_trips_through_its_index() {
        for timer in sipx_sip::Timer::ALL {
            assert_eq!(timer_at(timer_index(timer)), Some(timer));
        }
    }
}
