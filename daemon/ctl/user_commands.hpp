// confabctl user add|passwd|del|list: the users file edited in place (through
// admin/users_file_edit: flock, atomic replace, mode and group kept), then the
// daemon told to reload when it runs. They work without a daemon too.
#pragma once

#include "command.hpp"

namespace confab::ctl {

int run_user(Context& ctx);

} // namespace confab::ctl
