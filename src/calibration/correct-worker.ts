// Worker thread entry: corrects one module's raw sequence files (tasks from correctRun).
import { correctModuleFiles } from "./offline.ts";
import { serveTasks } from "./pool.ts";

serveTasks(correctModuleFiles);
