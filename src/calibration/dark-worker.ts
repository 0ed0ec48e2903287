// Worker thread entry: characterises one module's dark runs (tasks from characteriseDarkRuns).
import { characteriseModule } from "./offline.ts";
import { serveTasks } from "./pool.ts";

serveTasks(characteriseModule);
