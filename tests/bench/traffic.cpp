#include "traffic.hpp"

#include <fmt/format.h>

#include <cmath>

namespace confab::bench {

namespace {
constexpr std::uint32_t tag_bit = 0x80000000u; // in the stamp's seq: sent while tagged
}

PairTraffic::PairTraffic(Loop& loop, std::vector<Pair> pairs, int window, int text_bytes)
    : loop_(loop), pairs_(std::move(pairs)), window_(std::uint32_t(window)), text_bytes_(std::size_t(text_bytes)) {
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
        pairs_[i].sender->state = role_sender;
        pairs_[i].sender->peer = std::uint32_t(i);
        pairs_[i].sender->inflight = 0;
        pairs_[i].sender->sent = 0;
        pairs_[i].receiver->state = role_receiver;
        pairs_[i].receiver->peer = std::uint32_t(i);
        pairs_[i].receiver->received = 0;
    }
}

void PairTraffic::set_rate(double per_s, Clock start) {
    rate_ = per_s / 1e9;
    rate_start_ = start;
}

int PairTraffic::pump(Clock now) {
    if (stopped_ || pairs_.empty()) return -1;
    std::uint64_t budget = UINT64_MAX;
    if (rate_ > 0) {
        auto allowed = std::uint64_t(double(now - rate_start_) * rate_);
        budget = allowed > sent_ ? allowed - sent_ : 0;
    }
    const bool tag = tagged_ && tagged_(now);
    // Round robin so a rate limit spreads messages over all pairs.
    bool progress = true;
    while (budget > 0 && progress) {
        progress = false;
        for (std::size_t k = 0; k < pairs_.size() && budget > 0; ++k) {
            Pair& p = pairs_[(rr_ + k) % pairs_.size()];
            Conn& s = *p.sender;
            if (!s.open || s.inflight >= window_ || s.sent >= p.quota) continue;
            std::uint32_t seq = std::uint32_t(s.sent) & ~tag_bit;
            stamp_text(text_, text_bytes_, now_ns(), tag ? seq | tag_bit : seq);
            loop_.send(s, proto::SendMessage{s.next_request++, p.receiver_name, text_});
            ++s.inflight;
            ++s.sent;
            ++sent_;
            --budget;
            progress = true;
            if (rate_ > 0) rr_ = (rr_ + k + 1) % pairs_.size(); // next send starts after this pair
        }
    }
    if (rate_ <= 0) return -1;
    // Time until the next message is due.
    double due_ns = double(sent_ + 1) / rate_ - double(now - rate_start_);
    return due_ns <= 0 ? 0 : int(std::ceil(due_ns / 1e6));
}

bool PairTraffic::on_frame(Conn& c, const proto::Message& m) {
    if (c.state == role_sender) {
        const auto* r = std::get_if<proto::Result>(&m);
        if (!r) return false;
        if (c.inflight > 0) --c.inflight;
        ++answered_;
        if (r->code == proto::Status::ok) {
            ++results_ok_;
        } else if (tolerant_) {
            ++(r->code == proto::Status::ok_stored ? stored_ : refused_);
            if (first_refusal_.empty()) first_refusal_ = fmt::format("{} ({})", proto::to_string(r->code), r->detail);
        } else if (error_.empty()) {
            error_ = fmt::format("SendMessage answered {} ({})", proto::to_string(r->code), r->detail);
        }
        return true;
    }
    if (c.state == role_receiver) {
        const auto* e = std::get_if<proto::MessageEvent>(&m);
        if (!e) return false;
        Clock sent = 0;
        std::uint32_t seq = 0;
        if (!parse_stamp(e->text, sent, seq)) {
            if (error_.empty()) error_ = "a MessageEvent without a bench stamp";
            return true;
        }
        const Clock lat = now_ns() - sent;
        latency_.record(lat);
        if (seq & tag_bit) tagged_latency_.record(lat);
        ++c.received;
        ++received_;
        return true;
    }
    return false;
}

bool PairTraffic::finished() const {
    if (!error_.empty()) return true; // the workload fails: stop waiting
    // Without tolerance a reply other than ok is an error, so answered == ok here.
    if (answered_ < sent_ || received_ < results_ok_) return false;
    if (stopped_) return true;
    for (const Pair& p : pairs_)
        if (p.sender->sent < p.quota) return false;
    return true;
}

} // namespace confab::bench
