// Which caller each reply on a pipelined connection belongs to. Redis answers commands
// in the order it received them, so the n-th reply read answers the n-th command
// written; a slot stays in line after its caller gave up (timeout), so that the late
// reply is read and dropped instead of being handed to the next caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace baton::redis {

template <class Waiter>
class ReplyQueue {
public:
  using Sequence = std::uint64_t;

  // Reserves the next `count` replies for `waiter`; the sequence number of the first.
  Sequence push(Waiter* waiter, std::size_t count = 1) {
    const Sequence first = front_ + slots_.size();
    slots_.insert(slots_.end(), count, waiter);
    return first;
  }

  // The waiter of these replies gave up: they will be read and dropped.
  void abandon(Sequence first, std::size_t count) {
    for (Sequence sequence = first; sequence < first + count; ++sequence)
      if (sequence >= front_ && sequence - front_ < slots_.size()) slots_[sequence - front_] = nullptr;
  }

  // Who the next reply is for, and takes its slot; null when it was abandoned (or when
  // no reply is due: a reply nobody asked for, which the caller treats as a protocol error).
  Waiter* pop() {
    if (slots_.empty()) return nullptr;
    Waiter* waiter = slots_.front();
    slots_.pop_front();
    ++front_;
    return waiter;
  }

  bool empty() const { return slots_.empty(); }
  std::size_t size() const { return slots_.size(); }

  // The connection is gone: calls `on_waiter` once for each waiter still expecting
  // replies, then forgets them all. Sequence numbers keep growing, so a stale abandon()
  // can never hit a later slot.
  template <class F>
  void clear(F&& on_waiter) {
    Waiter* previous = nullptr;
    for (Waiter* waiter : slots_) {
      if (waiter != nullptr && waiter != previous) on_waiter(*waiter);
      previous = waiter;
    }
    front_ += slots_.size();
    slots_.clear();
  }

private:
  std::deque<Waiter*> slots_;
  Sequence front_ = 0;  // sequence number of slots_.front()
};

}  // namespace baton::redis
