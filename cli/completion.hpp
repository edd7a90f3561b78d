// Tab completion of an input line: the command word completes to command
// names, the user argument of a command that takes one to known user names.
// Nothing else completes (in particular never file names). Pure, unit-tested;
// the readline terminal calls it.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace confab::cli {

// Names seen in server lists and traffic, bounded so a flood of names cannot
// grow it without end (the oldest are not tracked: the first ones stay).
class KnownNames {
public:
    static constexpr std::size_t max_names = 4096;
    void add(std::string_view name);
    const std::set<std::string, std::less<>>& all() const noexcept { return names_; }

private:
    std::set<std::string, std::less<>> names_;
};

// The candidates for the word that ends at the end of `before_cursor`
// (the line up to the cursor), sorted; empty when nothing may complete there.
std::vector<std::string> completions(std::string_view before_cursor, const KnownNames& names);

} // namespace confab::cli
