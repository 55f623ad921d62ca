// <sib/optim.hpp>: sib::optim: SGD, AdamW, schedules, initialisation.
#pragma once
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/optim/optimizer.hpp>
#include <sib/optim/parameter_state.hpp>
#include <sib/optim/schedule.hpp>
#include <sib/optim/sgd.hpp>
