// One result per workload: a human line (`direct  pairs=50 ...  rate=412k msg/s ...`)
// and a JSON object with the same figures under stable keys.
#pragma once

#include "daemon_proc.hpp"
#include "histogram.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace confab::bench {

class Report {
public:
    explicit Report(std::string workload) : workload_(std::move(workload)) {}

    void param(const std::string& key, double value); // shown as key=value
    // A figure: `json_key` in JSON (nan -> null); `human` (may be empty) in the text line.
    void figure(const std::string& json_key, double value, std::string human);
    void note(const std::string& key, const std::string& value); // string field, JSON only
    void text(std::string human);                                // text line only
    void fail(const std::string& why);
    // The transport when not plaintext ("tls", "tls+resume"): `direct/tls` in the text line.
    void tag(std::string transport) { transport_ = std::move(transport); }
    // A target met or missed: `PASS`/`FAIL` after the last human figure, `met_<key>` in JSON.
    void check(const std::string& key, bool met);
    std::vector<std::string> missed() const; // keys of the targets missed

    // Common figures: latency percentiles from `h` (keys prefixed by `prefix`).
    void latency(const std::string& prefix, const Histogram& h, bool human = true);
    // Server CPU per unit and RSS, from samples around the measured phase.
    void server_cpu(const ProcSample& before, const ProcSample& after, double units, const std::string& unit_name);

    bool ok() const { return error_.empty(); }
    std::string text_line() const;
    std::string json_line() const;

private:
    std::string workload_;
    std::string transport_;
    std::string error_;
    std::vector<std::pair<std::string, double>> params_;
    std::vector<std::pair<std::string, double>> figures_;
    std::vector<std::pair<std::string, std::string>> notes_;
    std::vector<std::pair<std::string, bool>> checks_;
    std::vector<std::string> human_;
};

std::string human_rate(double per_s);  // 412345 -> "412k"
std::string human_ns(std::int64_t ns); // -> "0.9ms", "850us"
std::string human_bytes(double bytes); // -> "12.3MiB"

} // namespace confab::bench
